//! One test per attack on a license, on freshly minted tokens and random keys (the golden vectors
//! cover the same ground with fixed bytes).
#![cfg(feature = "sign")]

use client_verifier::{
    Binding, Claims, Fingerprint, RevocationClaims, SecretKey, TimeGuard, Timestamp, Verifier,
    VerifyError, mint, sign_revocations,
};

const HOME: &str = "04:7C:16:5E:E3:5D|SN-HOME|BOARD-HOME|BFEBFBFF00090672";
const ELSEWHERE: &str = "0A:11:22:33:44:55|SN-ELSE|BOARD-ELSE|BFEBFBFF00090672";

fn t(s: &str) -> Timestamp {
    Timestamp::parse_rfc3339(s).unwrap()
}

fn now() -> Timestamp {
    t("2026-06-01T00:00:00Z")
}

struct Setup {
    key: SecretKey,
    token: String,
    verifier: Verifier,
    home: Fingerprint,
}

fn claims() -> Claims {
    let mut c = Claims::new(
        "acme",
        "cust",
        "lic-7",
        "P1",
        "sku",
        "order",
        t("2026-01-01T00:00:00Z"),
        t("2027-01-01T00:00:00Z"),
        t("2027-01-16T00:00:00Z"),
    );
    c.binding = Some(Binding::new(&Fingerprint::parse(HOME).unwrap(), [5; 8]));
    c
}

fn setup() -> Setup {
    let key = SecretKey::generate().unwrap();
    let token = mint(&key, &claims()).unwrap();
    let verifier = Verifier::builder()
        .trust(key.public_key().clone())
        .issuer("acme")
        .product("P1")
        .build();
    let home = Fingerprint::parse(HOME).unwrap();
    assert!(
        verifier
            .verify(&token, Some(&home), now())
            .unwrap()
            .is_active()
    );
    Setup {
        key,
        token,
        verifier,
        home,
    }
}

fn b64(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

fn unb64(s: &str) -> Vec<u8> {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(s)
        .unwrap()
}

/// Splits a token into (claims JSON, signature, footer text).
fn split(token: &str) -> (String, Vec<u8>, String) {
    let (body, footer) = token["v4.public.".len()..].split_once('.').unwrap();
    let mut payload = unb64(body);
    let sig = payload.split_off(payload.len() - 64);
    (
        String::from_utf8(payload).unwrap(),
        sig,
        String::from_utf8(unb64(footer)).unwrap(),
    )
}

fn join(claims: &str, sig: &[u8], footer: &str) -> String {
    let mut payload = claims.as_bytes().to_vec();
    payload.extend_from_slice(sig);
    format!("v4.public.{}.{}", b64(&payload), b64(footer.as_bytes()))
}

#[test]
fn rejects_tampered_claims_extending_expiry() {
    let s = setup();
    let (claims, sig, footer) = split(&s.token);
    let forged = claims.replace("2027-01-01T00:00:00Z", "2099-01-01T00:00:00Z");
    assert_ne!(forged, claims);
    let err = s
        .verifier
        .verify(&join(&forged, &sig, &footer), Some(&s.home), now());
    assert_eq!(err.unwrap_err(), VerifyError::BadSignature);
}

#[test]
fn rejects_swapped_footer_kid() {
    let s = setup();
    let other = SecretKey::generate().unwrap();
    let verifier = Verifier::builder()
        .trust(s.key.public_key().clone())
        .trust(other.public_key().clone())
        .build();
    let (claims, sig, _) = split(&s.token);
    let footer = format!("{{\"kid\":\"{}\"}}", other.public_key().id());
    let err = verifier.verify(&join(&claims, &sig, &footer), Some(&s.home), now());
    assert_eq!(err.unwrap_err(), VerifyError::BadSignature);
}

#[test]
fn rejects_signature_from_another_key() {
    let s = setup();
    let attacker = SecretKey::generate().unwrap();
    let forged = mint(&attacker, &claims()).unwrap();
    assert!(matches!(
        s.verifier.verify(&forged, Some(&s.home), now()),
        Err(VerifyError::UnknownKey { .. })
    ));
    // Claiming our kid does not help: the signature is still the attacker's.
    let (c, sig, _) = split(&forged);
    let (_, _, our_footer) = split(&s.token);
    assert_eq!(
        s.verifier
            .verify(&join(&c, &sig, &our_footer), Some(&s.home), now())
            .unwrap_err(),
        VerifyError::BadSignature
    );
}

#[test]
fn rejects_token_for_another_product() {
    let s = setup();
    let mut c = claims();
    c.product = "P2".into();
    let token = mint(&s.key, &c).unwrap();
    assert!(matches!(
        s.verifier.verify(&token, Some(&s.home), now()),
        Err(VerifyError::WrongProduct { .. })
    ));
}

#[test]
fn rejects_license_copied_to_another_machine() {
    let s = setup();
    let elsewhere = Fingerprint::parse(ELSEWHERE).unwrap();
    match s.verifier.verify(&s.token, Some(&elsewhere), now()) {
        Err(VerifyError::DeviceMismatch { result }) => {
            assert_eq!((result.matched, result.bound, result.required), (1, 4, 2));
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn rejects_clock_set_back_to_before_expiry() {
    let s = setup();
    // Last run saw the license expired; the user turns the clock back a year.
    let mut guard = TimeGuard::new(t("2027-02-01T00:00:00Z"));
    let err = s
        .verifier
        .verify_guarded(&s.token, Some(&s.home), now(), &mut guard);
    assert_eq!(
        err.unwrap_err(),
        VerifyError::ClockRollback {
            last_seen: t("2027-02-01T00:00:00Z"),
            now: now()
        }
    );
    assert_eq!(
        guard.last_seen(),
        t("2027-02-01T00:00:00Z"),
        "a refused time is not recorded"
    );
    let stored = guard.encode();
    assert_eq!(TimeGuard::decode(&stored), Some(guard));
}

#[test]
fn rejects_revoked_license() {
    let mut s = setup();
    let list = RevocationClaims::new("acme", now(), 3, vec!["lic-7".into()]);
    assert_eq!(
        s.verifier
            .load_revocations(&sign_revocations(&s.key, &list)),
        Ok(3)
    );
    assert_eq!(
        s.verifier
            .verify(&s.token, Some(&s.home), now())
            .unwrap_err(),
        VerifyError::Revoked {
            jti: "lic-7".into()
        }
    );
}

#[test]
fn rejects_revoked_binding_but_keeps_other_seats_of_the_license() {
    let mut s = setup();
    // Seat 2 of the same license, on another machine, bound with its own salt.
    let mut other_seat = claims();
    other_seat.binding = Some(Binding::new(&Fingerprint::parse(HOME).unwrap(), [6; 8]));
    let other_token = mint(&s.key, &other_seat).unwrap();
    let revoked = claims().binding.unwrap().revocation_id("lic-7");
    assert!(revoked.starts_with("lic-7#"), "{revoked}");
    let list = RevocationClaims::new("acme", now(), 5, vec![revoked]);
    s.verifier
        .load_revocations(&sign_revocations(&s.key, &list))
        .unwrap();
    assert_eq!(
        s.verifier
            .verify(&s.token, Some(&s.home), now())
            .unwrap_err(),
        VerifyError::Revoked {
            jti: "lic-7".into()
        }
    );
    assert!(
        s.verifier
            .verify(&other_token, Some(&s.home), now())
            .unwrap()
            .is_active(),
        "revoking one binding leaves the license's other bindings valid"
    );
}

#[test]
fn rejects_stale_revocation_list_replay() {
    let mut s = setup();
    let newer = RevocationClaims::new("acme", now(), 4, vec!["lic-7".into()]);
    let older = RevocationClaims::new("acme", now(), 3, vec![]);
    s.verifier
        .load_revocations(&sign_revocations(&s.key, &newer))
        .unwrap();
    assert_eq!(
        s.verifier
            .load_revocations(&sign_revocations(&s.key, &older))
            .unwrap_err(),
        VerifyError::StaleRevocationList {
            current: 4,
            offered: 3
        }
    );
    // The older list did not un-revoke anything.
    assert!(matches!(
        s.verifier.verify(&s.token, Some(&s.home), now()),
        Err(VerifyError::Revoked { .. })
    ));
}

#[test]
fn rejects_revocation_list_forged_by_another_key() {
    let mut s = setup();
    let attacker = SecretKey::generate().unwrap();
    let list = RevocationClaims::new("acme", now(), 99, vec![]);
    assert!(matches!(
        s.verifier
            .load_revocations(&sign_revocations(&attacker, &list)),
        Err(VerifyError::UnknownKey { .. })
    ));
    assert_eq!(s.verifier.revocation_seq(), 0);
}

#[test]
fn mints_past_the_upload_limit_and_refuses_past_its_own() {
    let s = setup();
    let mut c = claims();
    // Over the 1,024 characters of a CHARACTERS upload: minted (licd uploads it as a file).
    c.entitlements
        .insert("notes".into(), "x".repeat(600).into());
    let token = mint(&s.key, &c).unwrap();
    assert!(token.len() > 1024);
    assert!(s.verifier.verify(&token, Some(&s.home), now()).is_ok());
    c.entitlements.insert(
        "notes".into(),
        "x".repeat(client_verifier::MAX_TOKEN_LEN).into(),
    );
    assert!(matches!(
        mint(&s.key, &c),
        Err(client_verifier::MintError::TooLong { .. })
    ));
}

/// A fresh verifier as the application builds it on each start, before it loads any list.
fn restarted(s: &Setup) -> Verifier {
    Verifier::builder()
        .trust(s.key.public_key().clone())
        .issuer("acme")
        .product("P1")
        .build()
}

/// Hardening round 3: following the README (persist the seq, pass it back as
/// `min_revocation_seq`), a customer who deleted the list file got `Ok` for a revoked token,
/// because the floor was taken for a list held.
#[test]
fn a_deleted_revocation_list_is_noticed_by_a_verifier_told_the_seq_it_saw() {
    let s = setup();
    let list = sign_revocations(
        &s.key,
        &RevocationClaims::new("acme", now(), 3, vec!["lic-7".into()]),
    );
    // Run 1: the list is loaded; the application persists its seq and the guard.
    let mut guard = TimeGuard::new(now());
    let mut v = restarted(&s);
    assert_eq!(v.load_revocations(&list), Ok(3));
    assert_eq!(v.loaded_revocation_seq(), Some(3));
    assert!(matches!(
        v.verify_guarded(&s.token, Some(&s.home), now(), &mut guard),
        Err(VerifyError::Revoked { .. })
    ));
    let saved_seq = v.revocation_seq();
    // Run 2: the list file is gone. Built as the README says, with the same state.
    let v = Verifier::builder()
        .trust(s.key.public_key().clone())
        .issuer("acme")
        .product("P1")
        .min_revocation_seq(saved_seq)
        .build();
    assert_eq!(v.loaded_revocation_seq(), None);
    let stale = Err(VerifyError::StaleRevocationList {
        current: 3,
        offered: 0,
    });
    assert_eq!(
        v.verify_guarded(&s.token, Some(&s.home), now(), &mut guard)
            .map(|_| ()),
        stale
    );
    assert_eq!(v.verify(&s.token, Some(&s.home), now()).map(|_| ()), stale);
    // Built with 0 (no list ever seen) it answers as before.
    assert!(restarted(&s).verify(&s.token, Some(&s.home), now()).is_ok());
}

#[test]
fn persisted_state_refuses_an_older_revocation_list_put_back() {
    let s = setup();
    let old_list = sign_revocations(&s.key, &RevocationClaims::new("acme", now(), 4, vec![]));
    let new_list = sign_revocations(
        &s.key,
        &RevocationClaims::new("acme", now(), 5, vec!["lic-7".into()]),
    );
    // First run: the application loads the newest list and persists its one state blob.
    let mut guard = TimeGuard::new(now());
    let mut v = restarted(&s);
    assert_eq!(v.load_revocations_guarded(&new_list, &mut guard), Ok(5));
    let stored = guard.encode();
    assert_eq!(stored, format!("tg2.{}.5", now().unix()));
    // Next run: the user put the older list (which does not revoke lic-7) back in place.
    let mut guard = TimeGuard::decode(&stored).unwrap();
    let mut v = restarted(&s);
    assert_eq!(
        v.load_revocations_guarded(&old_list, &mut guard),
        Err(VerifyError::StaleRevocationList {
            current: 5,
            offered: 4
        })
    );
    // An application that ignores that error (or deleted the list file) still cannot verify:
    // the state remembers that a newer list existed.
    assert_eq!(
        v.verify_guarded(&s.token, Some(&s.home), now(), &mut guard),
        Err(VerifyError::StaleRevocationList {
            current: 5,
            offered: 0
        })
    );
    // With the current list the license is revoked, as it should be.
    assert_eq!(v.load_revocations_guarded(&new_list, &mut guard), Ok(5));
    assert_eq!(
        v.verify_guarded(&s.token, Some(&s.home), now(), &mut guard)
            .unwrap_err(),
        VerifyError::Revoked {
            jti: "lic-7".into()
        }
    );
    // State written by earlier versions still reads, with no list seen.
    let legacy = TimeGuard::decode("tg1.1780000000").unwrap();
    assert_eq!(legacy.revocation_seq(), 0);
    assert_eq!(legacy.encode(), "tg1.1780000000");
    for bad in [
        "tg2.1780000000",
        "tg2.1780000000.",
        "tg2..5",
        "tg2.1.x",
        "tg3.1.1",
    ] {
        assert_eq!(TimeGuard::decode(bad), None, "{bad}");
    }
}

#[test]
fn typed_entitlements_edition_and_a_missed_check_in() {
    let s = setup();
    let mut c = claims();
    c.entitlements.insert("export_dxf".into(), true.into());
    c.entitlements.insert("beta".into(), "true".into());
    c.entitlements.insert("max_layers".into(), 200.into());
    c.entitlements.insert("ratio".into(), 1.5.into());
    c.edition = Some("CAD Pro".into());
    c.check_in_by = Some(t("2026-07-01T00:00:00Z"));
    let token = mint(&s.key, &c).unwrap();
    let v = s.verifier.verify(&token, Some(&s.home), now()).unwrap();
    assert!(v.is_active());
    assert!(v.feature("export_dxf"));
    assert!(
        !v.feature("beta"),
        "only the boolean true switches a feature on"
    );
    assert!(!v.feature("absent"));
    assert_eq!(v.limit("max_layers"), Some(200));
    assert_eq!(v.limit("ratio"), None);
    assert_eq!(v.limit("export_dxf"), None);
    assert_eq!(v.edition(), Some("CAD Pro"));
    assert_eq!(v.check_in_by(), Some(t("2026-07-01T00:00:00Z")));
    // Past the deadline: neither expired nor frozen, but "go online".
    let late = s
        .verifier
        .verify(&token, Some(&s.home), t("2026-07-02T00:00:00Z"))
        .unwrap();
    assert_eq!(
        late.status(),
        client_verifier::LicenseStatus::CheckInRequired {
            since: t("2026-07-01T00:00:00Z")
        }
    );
    assert!(!late.is_active());
    // Past the paid period, expiry wins over the missed check-in.
    let expired = s
        .verifier
        .verify(&token, Some(&s.home), t("2027-02-01T00:00:00Z"))
        .unwrap();
    assert!(matches!(
        expired.status(),
        client_verifier::LicenseStatus::Expired { .. }
    ));
    // A token without the new claims reads as before.
    let plain = s.verifier.verify(&s.token, Some(&s.home), now()).unwrap();
    assert_eq!((plain.edition(), plain.check_in_by()), (None, None));
    assert!(!payload_has(&s.token, "check_in_by"));
}

/// Whether a token's JSON payload mentions `needle` (new claims are left out when absent).
fn payload_has(token: &str, needle: &str) -> bool {
    use base64::Engine as _;
    let body = token.strip_prefix("v4.public.").unwrap();
    let body = body.split('.').next().unwrap();
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(body)
        .unwrap();
    String::from_utf8_lossy(&bytes[..bytes.len() - 64]).contains(needle)
}
