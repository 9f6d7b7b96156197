//! The key hierarchy: a root, certificates of issuing keys, and every way to get around them.
//! Each attack is a test; each defence was switched off once to see its test fail.
#![cfg(feature = "sign")]

use client_verifier::paseto;
use client_verifier::{
    Certificate, Claims, Grant, Purpose, Purposes, RevocationClaims, Root, SecretKey, Timestamp,
    Verifier, VerifyError, mint, mint_certified, sign_revocations_certified,
};

fn t(s: &str) -> Timestamp {
    Timestamp::parse_rfc3339(s).unwrap()
}

fn now() -> Timestamp {
    t("2026-06-01T00:00:00Z")
}

fn claims(product: &str, exp: &str) -> Claims {
    Claims::new(
        "acme",
        "cust",
        "lic-7",
        product,
        "sku",
        "order",
        t("2026-01-01T00:00:00Z"),
        t(exp),
        t(exp).add_secs(15 * 86_400),
    )
}

fn grant(key: &SecretKey) -> Grant {
    Grant {
        key: key.public_key().clone(),
        not_before: t("2025-12-01T00:00:00Z"),
        not_after: t("2027-12-01T00:00:00Z"),
        max_exp: t("2030-01-01T00:00:00Z"),
        purposes: Purposes::DEFAULT,
        products: vec!["P1".into()],
    }
}

/// A root of `n` keys with threshold `k`, signed by the first `k`.
fn root(n: usize, k: u8) -> (Root, Vec<SecretKey>) {
    let secrets: Vec<SecretKey> = (0..n).map(|_| SecretKey::generate().unwrap()).collect();
    let keys: Vec<_> = secrets.iter().map(|s| s.public_key().clone()).collect();
    let signers: Vec<&SecretKey> = secrets.iter().take(k as usize).collect();
    let doc = Root::sign(1, k, &keys, &signers).unwrap();
    // What the application embeds is the document: read back, it checks its own signatures.
    (Root::from_json(doc.to_json()).unwrap(), secrets)
}

fn verifier(root: &Root) -> Verifier {
    Verifier::builder()
        .trust_root(root.clone())
        .issuer("acme")
        .product("P1")
        .binding(client_verifier::BindingRequirement::Optional)
        .build()
}

fn uncertified(r: Result<impl std::fmt::Debug, VerifyError>) -> &'static str {
    match r {
        Err(VerifyError::Uncertified { reason }) => reason,
        other => panic!("expected Uncertified, got {other:?}"),
    }
}

/// A token signed by `key` whose footer says `footer` (JSON), bypassing `mint_certified`'s
/// checks, as a forger would.
fn forged(key: &SecretKey, claims: &Claims, footer: &str) -> String {
    paseto::sign(
        key,
        &serde_json::to_vec(claims).unwrap(),
        footer.as_bytes(),
        b"",
    )
}

fn footer(kid: &str, cert: &Certificate) -> String {
    format!(r#"{{"kid":"{kid}","cert":"{}"}}"#, cert.encode())
}

#[test]
fn a_certified_token_verifies_under_the_root_and_with_the_key_itself() {
    let (root, secrets) = root(1, 1);
    let issuing = SecretKey::generate().unwrap();
    let cert = Certificate::sign(grant(&issuing), &[&secrets[0]]).unwrap();
    let token = mint_certified(&issuing, &cert, &claims("P1", "2027-01-01T00:00:00Z")).unwrap();
    assert!(
        token.len() < 1024,
        "a rooted token is {} characters",
        token.len()
    );
    let v = verifier(&root);
    let license = v.verify(&token, None, now()).unwrap();
    assert!(license.is_active());
    assert_eq!(license.key_id(), issuing.public_key().id());
    // Again: the certificate is cached, the answer the same.
    assert!(v.verify(&token, None, now()).unwrap().is_active());
    // An application that embeds the issuing key, as before the hierarchy, still accepts it.
    let direct = Verifier::builder()
        .trust(issuing.public_key().clone())
        .issuer("acme")
        .product("P1")
        .binding(client_verifier::BindingRequirement::Optional)
        .build();
    assert!(direct.verify(&token, None, now()).unwrap().is_active());
    // And the certificate reads back as it was granted.
    let back = Certificate::decode(&cert.encode()).unwrap();
    assert_eq!(back.grant(), &grant(&issuing));
}

#[test]
fn a_certificate_signed_by_another_root_is_refused() {
    let (root, _) = root(1, 1);
    let (_, other) = self::root(1, 1);
    let issuing = SecretKey::generate().unwrap();
    let cert = Certificate::sign(grant(&issuing), &[&other[0]]).unwrap();
    let token = mint_certified(&issuing, &cert, &claims("P1", "2027-01-01T00:00:00Z")).unwrap();
    uncertified(verifier(&root).verify(&token, None, now()));
}

#[test]
fn fewer_signatures_than_the_threshold_are_refused_even_repeated() {
    let (root, secrets) = root(3, 2);
    let issuing = SecretKey::generate().unwrap();
    let c = claims("P1", "2027-01-01T00:00:00Z");
    let one = Certificate::sign(grant(&issuing), &[&secrets[0]]).unwrap();
    let token = mint_certified(&issuing, &one, &c).unwrap();
    uncertified(verifier(&root).verify(&token, None, now()));
    // The same key's signature twice is still one key.
    let twice = Certificate::sign(grant(&issuing), &[&secrets[1], &secrets[1]]).unwrap();
    let token = mint_certified(&issuing, &twice, &c).unwrap();
    uncertified(verifier(&root).verify(&token, None, now()));
    // Two different keys of the three meet it.
    let two = Certificate::sign(grant(&issuing), &[&secrets[2], &secrets[0]]).unwrap();
    let token = mint_certified(&issuing, &two, &c).unwrap();
    assert!(verifier(&root).verify(&token, None, now()).is_ok());
}

#[test]
fn a_token_outside_its_certificate_is_refused() {
    let (root, secrets) = root(1, 1);
    let issuing = SecretKey::generate().unwrap();
    let sign = |g: Grant| Certificate::sign(g, &[&secrets[0]]).unwrap();
    let kid = issuing.public_key().id().as_str().to_string();
    let v = verifier(&root);
    // Another product (the verifier is for P1, the certificate only for P2).
    let cert = sign(Grant {
        products: vec!["P2".into()],
        ..grant(&issuing)
    });
    let token = forged(
        &issuing,
        &claims("P1", "2027-01-01T00:00:00Z"),
        &footer(&kid, &cert),
    );
    assert!(uncertified(v.verify(&token, None, now())).contains("product"));
    // Another purpose: leases only.
    let cert = sign(Grant {
        purposes: Purposes::of(&[Purpose::Leases]),
        ..grant(&issuing)
    });
    let token = forged(
        &issuing,
        &claims("P1", "2027-01-01T00:00:00Z"),
        &footer(&kid, &cert),
    );
    assert!(uncertified(v.verify(&token, None, now())).contains("licenses"));
    // An exp beyond the bound: what a thief with an old key would mint.
    let cert = sign(grant(&issuing));
    let token = forged(
        &issuing,
        &claims("P1", "2031-01-01T00:00:00Z"),
        &footer(&kid, &cert),
    );
    assert!(uncertified(v.verify(&token, None, now())).contains("exp"));
    // Signed (by its iat) after the certificate ended.
    let cert = sign(Grant {
        not_after: t("2025-12-15T00:00:00Z"),
        ..grant(&issuing)
    });
    let token = forged(
        &issuing,
        &claims("P1", "2027-01-01T00:00:00Z"),
        &footer(&kid, &cert),
    );
    assert!(uncertified(v.verify(&token, None, now())).contains("validity"));
    // licd refuses to mint any of these in the first place.
    assert!(mint_certified(&issuing, &cert, &claims("P1", "2027-01-01T00:00:00Z")).is_err());
}

#[test]
fn a_swapped_certificate_or_none_is_refused() {
    let (root, secrets) = root(1, 1);
    let (thief, honest) = (
        SecretKey::generate().unwrap(),
        SecretKey::generate().unwrap(),
    );
    let honest_cert = Certificate::sign(grant(&honest), &[&secrets[0]]).unwrap();
    let c = claims("P1", "2027-01-01T00:00:00Z");
    let v = verifier(&root);
    // The thief's key signs, the honest key's certificate rides along under the thief's kid.
    let token = forged(
        &thief,
        &c,
        &footer(thief.public_key().id().as_str(), &honest_cert),
    );
    assert!(uncertified(v.verify(&token, None, now())).contains("key id"));
    // ... or under the honest kid: the signature is not the certified key's.
    let token = forged(
        &thief,
        &c,
        &footer(honest.public_key().id().as_str(), &honest_cert),
    );
    assert_eq!(
        v.verify(&token, None, now()).unwrap_err(),
        VerifyError::BadSignature
    );
    // No certificate at all: a root-only verifier trusts no key directly.
    let token = mint(&thief, &c).unwrap();
    assert!(uncertified(v.verify(&token, None, now())).contains("no certificate"));
    // A certificate with a byte changed (here its max_exp) no longer carries the root's signature.
    let mut bytes = honest_cert.as_bytes().to_vec();
    bytes[50] ^= 1;
    let tampered = Certificate::from_bytes(&bytes).unwrap();
    let token = forged(
        &honest,
        &c,
        &footer(honest.public_key().id().as_str(), &tampered),
    );
    uncertified(v.verify(&token, None, now()));
}

#[test]
fn a_revocation_list_needs_a_certificate_that_grants_lists() {
    let (root, secrets) = root(1, 1);
    let issuing = SecretKey::generate().unwrap();
    let list = RevocationClaims::new("acme", now(), 3, vec!["lic-7".into()]);
    let licenses_only = Certificate::sign(
        Grant {
            purposes: Purposes::of(&[Purpose::Licenses]),
            ..grant(&issuing)
        },
        &[&secrets[0]],
    )
    .unwrap();
    assert!(sign_revocations_certified(&issuing, &licenses_only, &list).is_err());
    // Forged past that check: the verifier refuses it too.
    let token = paseto::sign(
        &issuing,
        &serde_json::to_vec(&list).unwrap(),
        footer(issuing.public_key().id().as_str(), &licenses_only).as_bytes(),
        b"",
    );
    let mut v = verifier(&root);
    uncertified(v.load_revocations(&token));
    let lists = Certificate::sign(
        Grant {
            purposes: Purposes::of(&[Purpose::Licenses, Purpose::RevocationLists]),
            ..grant(&issuing)
        },
        &[&secrets[0]],
    )
    .unwrap();
    let token = sign_revocations_certified(&issuing, &lists, &list).unwrap();
    assert_eq!(v.load_revocations(&token).unwrap(), 3);
}

#[test]
fn a_root_rotates_only_through_both_thresholds_one_version_at_a_time() {
    let (v1, old) = root(3, 2);
    let new: Vec<SecretKey> = (0..2).map(|_| SecretKey::generate().unwrap()).collect();
    let new_keys: Vec<_> = new.iter().map(|s| s.public_key().clone()).collect();
    let next = |version: u32, signers: &[&SecretKey]| {
        Root::sign(version, 2, &new_keys, signers)
            .unwrap()
            .to_json()
            .to_string()
    };
    // Both thresholds: accepted, and the chain can be followed from v1.
    let v2 = next(2, &[&old[0], &old[2], &new[0], &new[1]]);
    let accepted = v1.accept_next(&v2).unwrap();
    assert_eq!((accepted.version(), accepted.keys()), (2, &new_keys[..]));
    assert_eq!(v1.follow([v1.to_json(), v2.as_str()]).unwrap().version(), 2);
    // Signed by the new keys alone: a root cannot appoint itself.
    assert!(uncertified(v1.accept_next(&next(2, &[&new[0], &new[1]]))).contains("trusted root"));
    // By one old key (a stolen one) and the new ones: below the old threshold.
    uncertified(v1.accept_next(&next(2, &[&old[1], &new[0], &new[1]])));
    // By the old keys alone: the new root's own threshold is missing.
    assert!(uncertified(v1.accept_next(&next(2, &[&old[0], &old[1]]))).contains("own"));
    // A version skipped.
    assert!(
        uncertified(v1.accept_next(&next(3, &[&old[0], &old[1], &new[0], &new[1]])))
            .contains("next version")
    );
    // After the rotation, certificates of the retired keys no longer chain.
    let issuing = SecretKey::generate().unwrap();
    let old_cert = Certificate::sign(grant(&issuing), &[&old[0], &old[1]]).unwrap();
    let token = mint_certified(&issuing, &old_cert, &claims("P1", "2027-01-01T00:00:00Z")).unwrap();
    assert!(verifier(&v1).verify(&token, None, now()).is_ok());
    uncertified(verifier(&accepted).verify(&token, None, now()));
}

#[test]
fn malformed_roots_and_certificates_are_refused_not_panicked_on() {
    let (root, secrets) = root(1, 1);
    let doc = root.to_json();
    for bad in [
        doc.replace("licd-root", "other"),
        doc.replace("\"threshold\": 1", "\"threshold\": 2"),
        doc.replace("\"threshold\": 1", "\"threshold\": 0"),
        doc.replace("\"version\": 1", "\"version\": 0"),
        "{}".to_string(),
    ] {
        assert!(Root::from_json(&bad).is_err(), "{bad}");
    }
    let issuing = SecretKey::generate().unwrap();
    let cert = Certificate::sign(grant(&issuing), &[&secrets[0]]).unwrap();
    let bytes = cert.as_bytes();
    for cut in 0..bytes.len() {
        assert!(
            Certificate::from_bytes(&bytes[..cut]).is_err(),
            "cut at {cut}"
        );
    }
    let mut longer = bytes.to_vec();
    longer.push(0);
    assert!(Certificate::from_bytes(&longer).is_err());
    let mut unknown_purpose = bytes.to_vec();
    unknown_purpose[57] |= 0x80;
    assert!(Certificate::from_bytes(&unknown_purpose).is_err());
}

#[test]
fn an_application_follows_the_chain_and_never_falls_back_to_an_older_root() {
    use client_verifier::TimeGuard;
    let (v1, old) = root(1, 1);
    let new = SecretKey::generate().unwrap();
    let v2 = Root::sign(2, 1, &[new.public_key().clone()], &[&old[0], &new])
        .unwrap()
        .to_json()
        .to_string();
    let issuing = SecretKey::generate().unwrap();
    let cert = Certificate::sign(grant(&issuing), &[&new]).unwrap();
    let token = mint_certified(&issuing, &cert, &claims("P1", "2027-01-01T00:00:00Z")).unwrap();

    // The application embeds v1; its guard has seen nothing yet.
    let mut guard = TimeGuard::default();
    let mut app = verifier(&v1);
    uncertified(app.verify_guarded(&token, None, now(), &mut guard));
    // It fetches GET /v1/root (v1 then v2) and follows it.
    let chain = [v1.to_json().to_string(), v2.clone()];
    let stored = app
        .update_root(chain.iter().map(String::as_str), &mut guard)
        .unwrap()
        .expect("a newer root")
        .to_json()
        .to_string();
    assert_eq!(guard.root_version(), 2);
    assert!(app.verify_guarded(&token, None, now(), &mut guard).is_ok());
    // Following the same chain again changes nothing.
    assert!(
        app.update_root(chain.iter().map(String::as_str), &mut guard)
            .unwrap()
            .is_none()
    );
    // The guard is persisted; next run, the stored root is read back...
    let saved = guard.encode();
    assert!(saved.starts_with("tg3."), "{saved}");
    let mut guard = TimeGuard::decode(&saved).unwrap();
    assert_eq!(guard.root_version(), 2);
    let app = verifier(&Root::from_json(&stored).unwrap());
    assert!(app.verify_guarded(&token, None, now(), &mut guard).is_ok());
    // ...but if it was deleted, the embedded v1 is refused rather than trusted again.
    let fallback = verifier(&v1);
    assert!(
        uncertified(fallback.verify_guarded(&token, None, now(), &mut guard)).contains("older")
    );
    // A guard from before roots reads as before.
    assert_eq!(TimeGuard::decode("tg2.100.3").unwrap().root_version(), 0);
    assert!(TimeGuard::decode("tg3.100.3.2.9.1").is_none());
    assert!(TimeGuard::decode("tg3.100.3.2").is_none());
}

/// The C ABI's rooted verifier: a document in, the same verdicts out.
#[test]
#[allow(unsafe_code)]
fn the_c_abi_verifies_through_a_root() {
    use client_verifier::ffi::{
        CvResult, CvVerifier, cv_license_free, cv_verifier_free, cv_verifier_new_rooted, cv_verify,
    };
    use std::ffi::CString;
    use std::ptr;

    let (root, secrets) = root(1, 1);
    let issuing = SecretKey::generate().unwrap();
    let cert = Certificate::sign(grant(&issuing), &[&secrets[0]]).unwrap();
    let good = mint_certified(&issuing, &cert, &claims("P1", "2027-01-01T00:00:00Z")).unwrap();
    let uncertified_token = mint(&issuing, &claims("P1", "2027-01-01T00:00:00Z")).unwrap();
    let c = |s: &str| CString::new(s).unwrap();
    let (doc, iss, prod) = (c(root.to_json()), c("acme"), c("P1"));
    let optional = client_verifier::ffi::CV_FLAG_BINDING_OPTIONAL;
    let mut v: *mut CvVerifier = ptr::null_mut();
    let code = unsafe {
        cv_verifier_new_rooted(
            doc.as_ptr(),
            iss.as_ptr(),
            prod.as_ptr(),
            optional,
            0,
            &mut v,
        )
    };
    assert_eq!(code, CvResult::Ok);
    let verify = |token: &str| {
        let token = c(token);
        let mut guard = 0i64;
        let mut out = ptr::null_mut();
        let code = unsafe {
            cv_verify(
                v,
                token.as_ptr(),
                ptr::null(),
                now().unix(),
                &mut guard,
                &mut out,
            )
        };
        if !out.is_null() {
            unsafe { cv_license_free(out) };
        }
        code
    };
    assert_eq!(verify(&good), CvResult::Ok);
    assert_eq!(verify(&uncertified_token), CvResult::Uncertified);
    unsafe { cv_verifier_free(v) };
    // A document whose signature does not hold is refused at construction.
    let respaced = c(&root
        .to_json()
        .replace("\"threshold\": 1", "\"threshold\": 1 "));
    let tampered = c(&root.to_json().replacen("k4.public.", "k4.public.A", 1));
    for bad in [&tampered, &respaced] {
        let mut v: *mut CvVerifier = ptr::null_mut();
        let code = unsafe {
            cv_verifier_new_rooted(
                bad.as_ptr(),
                iss.as_ptr(),
                prod.as_ptr(),
                optional,
                0,
                &mut v,
            )
        };
        if bad == &respaced {
            // Whitespace is not part of what the root signs: still the same root.
            assert_eq!(code, CvResult::Ok);
            unsafe { cv_verifier_free(v) };
        } else {
            assert_eq!(code, CvResult::Uncertified);
            assert!(v.is_null());
        }
    }
}

/// The compromise, as a verifier lives it: a thief holds issuing key A (certified for licenses
/// and lists), mints a license and publishes a list with an absurd sequence number to lock out
/// honest lists. The root revokes A and resets the floor; B, newly certified, takes over.
#[test]
fn a_root_revokes_a_stolen_key_and_undoes_its_list() {
    use client_verifier::{KeyRevocations, TimeGuard};
    let (root, secrets) = root(3, 2);
    let (a, b) = (
        SecretKey::generate().unwrap(),
        SecretKey::generate().unwrap(),
    );
    let lists = Purposes::of(&[Purpose::Licenses, Purpose::RevocationLists]);
    let certify = |k: &SecretKey| {
        Certificate::sign(
            Grant {
                purposes: lists,
                ..grant(k)
            },
            &[&secrets[0], &secrets[1]],
        )
        .unwrap()
    };
    let (cert_a, cert_b) = (certify(&a), certify(&b));
    let customer = mint_certified(&a, &cert_a, &claims("P1", "2027-01-01T00:00:00Z")).unwrap();
    let mut forged_claims = claims("P1", "2029-12-31T00:00:00Z");
    forged_claims.jti = "free-copy".into();
    let forged = mint_certified(&a, &cert_a, &forged_claims).unwrap();
    let brick = sign_revocations_certified(
        &a,
        &cert_a,
        &RevocationClaims::new("acme", now(), u64::MAX - 1, vec![]),
    )
    .unwrap();
    let honest_list = |seq| {
        sign_revocations_certified(
            &b,
            &cert_b,
            &RevocationClaims::new("acme", now(), seq, vec![]),
        )
        .unwrap()
    };

    let mut guard = TimeGuard::default();
    let mut app = verifier(&root);
    assert!(
        app.verify_guarded(&forged, None, now(), &mut guard).is_ok(),
        "before: accepted"
    );
    app.load_revocations_guarded(&brick, &mut guard).unwrap();
    assert!(matches!(
        app.load_revocations_guarded(&honest_list(12), &mut guard),
        Err(VerifyError::StaleRevocationList { .. })
    ));

    // Statements the root did not sign with its threshold change nothing.
    let by_thief = KeyRevocations::sign(1, 1, vec![], 0, &[&a]).unwrap();
    uncertified(app.load_key_revocations_guarded(&by_thief, &mut guard));
    let a_kid = a.public_key().id().as_str().to_string();
    let one_holder = KeyRevocations::sign(1, 1, vec![a_kid.clone()], 12, &[&secrets[2]]).unwrap();
    uncertified(app.load_key_revocations_guarded(&one_holder, &mut guard));
    assert_eq!(guard.key_revocation_seq(), 0);

    // The root's statement: A revoked, the list floor back at licd's 12.
    let statement =
        KeyRevocations::sign(1, 1, vec![a_kid], 12, &[&secrets[1], &secrets[2]]).unwrap();
    assert_eq!(
        app.load_key_revocations_guarded(&statement, &mut guard)
            .unwrap(),
        1
    );
    assert_eq!(
        (guard.revocation_seq(), guard.key_revocation_seq()),
        (12, 1)
    );
    // The thief's list is gone with its key; until an honest list arrives nothing verifies.
    assert!(matches!(
        app.verify_guarded(&forged, None, now(), &mut guard),
        Err(VerifyError::StaleRevocationList { .. })
    ));
    app.load_revocations_guarded(&honest_list(12), &mut guard)
        .unwrap();
    // Both tokens A signed are refused now: the thief's and the customer's (whose application
    // refreshes it from licd, which re-mints it under B).
    for token in [&forged, &customer] {
        assert!(
            uncertified(app.verify_guarded(token, None, now(), &mut guard)).contains("revoked")
        );
    }
    let reminted = mint_certified(&b, &cert_b, &claims("P1", "2027-01-01T00:00:00Z")).unwrap();
    assert!(
        app.verify_guarded(&reminted, None, now(), &mut guard)
            .is_ok()
    );
    // A list signed by the revoked key is refused too.
    uncertified(app.load_revocations_guarded(&brick, &mut guard));

    // Next run: the guard remembers the statement, so deleting its file does not help.
    let mut guard = TimeGuard::decode(&guard.encode()).unwrap();
    let mut next_run = verifier(&root);
    next_run
        .load_revocations_guarded(&honest_list(12), &mut guard)
        .unwrap();
    assert!(
        uncertified(next_run.verify_guarded(&reminted, None, now(), &mut guard))
            .contains("key revocations")
    );
    next_run
        .load_key_revocations_guarded(&statement, &mut guard)
        .unwrap();
    assert!(
        next_run
            .verify_guarded(&reminted, None, now(), &mut guard)
            .is_ok()
    );
    // And an older statement cannot replace it.
    let older = KeyRevocations::sign(1, 0, vec![], 0, &[&secrets[0], &secrets[1]]).unwrap();
    assert!(
        uncertified(next_run.load_key_revocations_guarded(&older, &mut guard)).contains("older")
    );
}

/// An application that trusts a root and, for the transition, its issuing key directly: a token
/// whose certificate does not chain to the root (signed before a rotation) still verifies by
/// the key it trusts; one from a key it does not trust does not.
#[test]
fn a_directly_trusted_key_needs_no_chaining_certificate() {
    let (old_root, old_secrets) = root(1, 1);
    let (new_root, _) = root(1, 1);
    let issuing = SecretKey::generate().unwrap();
    let cert = Certificate::sign(grant(&issuing), &[&old_secrets[0]]).unwrap();
    let token = mint_certified(&issuing, &cert, &claims("P1", "2027-01-01T00:00:00Z")).unwrap();
    assert!(verifier(&old_root).verify(&token, None, now()).is_ok());
    uncertified(verifier(&new_root).verify(&token, None, now()));
    let both = Verifier::builder()
        .trust_root(new_root)
        .trust(issuing.public_key().clone())
        .issuer("acme")
        .product("P1")
        .binding(client_verifier::BindingRequirement::Optional)
        .build();
    assert!(both.verify(&token, None, now()).unwrap().is_active());
}

/// The C ABI's whole rooted life with a `cv_guard`: verify, follow a root rotation (the new
/// document handed back), load the root's key revocations (a revoked key's token refused), and
/// refuse to answer when the application "forgets" the statement or the new root. The old
/// `CvState` refuses to read a state it cannot hold.
#[test]
#[allow(unsafe_code)]
fn the_c_abi_keeps_the_root_version_and_key_revocations_in_its_guard() {
    use client_verifier::KeyRevocations;
    use client_verifier::ffi::{
        CV_FLAG_BINDING_OPTIONAL, CvGuard, CvResult, CvState, CvVerifier, cv_guard_encode,
        cv_guard_free, cv_guard_new, cv_guard_read, cv_license_free, cv_state_decode,
        cv_string_free, cv_verifier_free, cv_verifier_load_key_revocations, cv_verifier_new_rooted,
        cv_verifier_update_root, cv_verify_guarded,
    };
    use std::ffi::{CStr, CString, c_char};
    use std::ptr;

    let c = |s: &str| CString::new(s).unwrap();
    let (v1, old) = root(1, 1);
    let new = SecretKey::generate().unwrap();
    let v2 = Root::sign(2, 1, &[new.public_key().clone()], &[&old[0], &new]).unwrap();
    let (a, b) = (
        SecretKey::generate().unwrap(),
        SecretKey::generate().unwrap(),
    );
    let token = |k: &SecretKey| {
        let cert = Certificate::sign(grant(k), &[&new]).unwrap();
        mint_certified(k, &cert, &claims("P1", "2027-01-01T00:00:00Z")).unwrap()
    };
    let (token_a, token_b) = (token(&a), token(&b));
    let make = |doc: &str| {
        let (doc, iss, prod) = (c(doc), c("acme"), c("P1"));
        let mut v: *mut CvVerifier = ptr::null_mut();
        let code = unsafe {
            cv_verifier_new_rooted(
                doc.as_ptr(),
                iss.as_ptr(),
                prod.as_ptr(),
                CV_FLAG_BINDING_OPTIONAL,
                0,
                &mut v,
            )
        };
        assert_eq!(code, CvResult::Ok);
        v
    };
    let guard_from = |text: Option<&CStr>| {
        let mut g: *mut CvGuard = ptr::null_mut();
        let code = unsafe { cv_guard_new(text.map_or(ptr::null(), CStr::as_ptr), &mut g) };
        assert_eq!(code, CvResult::Ok);
        g
    };
    let read = |g: *mut CvGuard| {
        let (mut seen, mut list, mut keys, mut root) = (0i64, 0u64, 0u64, 0u32);
        let code = unsafe { cv_guard_read(g, &mut seen, &mut list, &mut keys, &mut root) };
        assert_eq!(code, CvResult::Ok);
        (seen, keys, root)
    };
    let verify = |v: *mut CvVerifier, token: &str, g: *mut CvGuard| {
        let token = c(token);
        let mut out = ptr::null_mut();
        let code =
            unsafe { cv_verify_guarded(v, token.as_ptr(), ptr::null(), now().unix(), g, &mut out) };
        if !out.is_null() {
            unsafe { cv_license_free(out) };
        }
        code
    };
    let g = guard_from(None);
    let v = make(v1.to_json());
    // Certified under version 2 only: version 1 alone does not chain it.
    assert_eq!(verify(v, &token_a, g), CvResult::Uncertified);
    let chain = serde_json::json!({ "version": 2, "roots": [v1.to_json(), v2.to_json()] });
    let body = c(&chain.to_string());
    let mut new_root: *mut c_char = ptr::null_mut();
    let code = unsafe { cv_verifier_update_root(v, body.as_ptr(), g, &mut new_root) };
    assert_eq!(code, CvResult::Ok);
    assert!(!new_root.is_null());
    let stored_root = unsafe { CStr::from_ptr(new_root) }
        .to_str()
        .unwrap()
        .to_string();
    unsafe { cv_string_free(new_root) };
    assert_eq!(read(g).2, 2);
    assert_eq!(verify(v, &token_a, g), CvResult::Ok);
    assert_eq!(read(g).0, now().unix());
    // Again: nothing newer, nothing handed back.
    let mut again: *mut c_char = ptr::null_mut();
    let code = unsafe { cv_verifier_update_root(v, body.as_ptr(), g, &mut again) };
    assert_eq!((code, again.is_null()), (CvResult::Ok, true));
    // A version signed only by the new keys is refused and changes nothing; so is junk.
    let self_made = Root::sign(3, 1, &[a.public_key().clone()], &[&a]).unwrap();
    let bad = c(&serde_json::json!([v2.to_json(), self_made.to_json()]).to_string());
    let code = unsafe { cv_verifier_update_root(v, bad.as_ptr(), g, &mut again) };
    assert_eq!((code, read(g).2), (CvResult::Uncertified, 2));
    let junk = c("{\"roots\": 7}");
    let code = unsafe { cv_verifier_update_root(v, junk.as_ptr(), g, &mut again) };
    assert_eq!(code, CvResult::InvalidArgument);

    // The root revokes A.
    let statement = KeyRevocations::sign(
        2,
        1,
        vec![a.public_key().id().as_str().to_string()],
        0,
        &[&new],
    )
    .unwrap();
    let json = c(&statement);
    let code = unsafe { cv_verifier_load_key_revocations(v, json.as_ptr(), g) };
    assert_eq!((code, read(g).1), (CvResult::Ok, 1));
    assert_eq!(verify(v, &token_a, g), CvResult::Uncertified);
    assert_eq!(verify(v, &token_b, g), CvResult::Ok);
    // The state survives as text, and read back it still knows both floors.
    let mut text: *mut c_char = ptr::null_mut();
    assert_eq!(unsafe { cv_guard_encode(g, &mut text) }, CvResult::Ok);
    let saved = unsafe { CStr::from_ptr(text) }.to_owned();
    unsafe { cv_string_free(text) };
    let restored = guard_from(Some(&saved));
    assert_eq!(read(restored), read(g));
    // The two-field CvState cannot hold them, so it refuses the text instead of dropping them.
    let mut old_state = CvState::default();
    assert_eq!(
        unsafe { cv_state_decode(saved.as_ptr(), &mut old_state) },
        CvResult::InvalidArgument
    );
    unsafe { cv_verifier_free(v) };

    // The application lost the statement: the new verifier refuses to answer.
    let v = make(&stored_root);
    assert_eq!(verify(v, &token_b, restored), CvResult::Uncertified);
    unsafe { cv_verifier_free(v) };
    // It lost the new root: the old one is not trusted again.
    let v = make(v1.to_json());
    let code = unsafe { cv_verifier_load_key_revocations(v, json.as_ptr(), restored) };
    assert_eq!(code, CvResult::Uncertified);
    assert_eq!(verify(v, &token_b, restored), CvResult::Uncertified);
    unsafe { cv_verifier_free(v) };
    // A freed guard is refused, not read.
    unsafe { cv_guard_free(g) };
    let v = make(&stored_root);
    assert_eq!(verify(v, &token_b, g), CvResult::InvalidArgument);
    unsafe {
        cv_verifier_free(v);
        cv_guard_free(g);
        cv_guard_free(restored);
    }
}
