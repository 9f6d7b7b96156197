//! Loading a signed revocation list into the verifier.
//!
//! Each input is tried as a list token, and, when it looks like a JSON object, as the claims of a
//! list signed with the fixture key.
//!
//! Invariants:
//! - a loaded list's sequence number is the verifier's afterwards, loading it again is accepted,
//!   and a verifier that has seen a higher number refuses it as stale;
//! - a failed load leaves the verifier as it was;
//! - every license id on a loaded list is refused as revoked.
#![no_main]

use client_verifier::{Claims, Timestamp, VerifyError, mint};
use libfuzzer_sys::fuzz_target;
use licd_fuzz::{CURRENT, ISSUER, NOW, PRODUCT, looks_like_object, sign_message, verifier};

fuzz_target!(|data: &[u8]| {
    if let Ok(token) = std::str::from_utf8(data) {
        load(token);
    }
    if looks_like_object(data) {
        load(&sign_message(data));
    }
});

fn load(token: &str) {
    let mut v = verifier();
    let seq = match v.load_revocations(token) {
        Ok(seq) => seq,
        Err(e) => {
            let _ = (e.name(), e.to_string());
            assert_eq!(v.revocation_seq(), 0, "a refused list changed the verifier");
            return;
        }
    };
    assert_eq!(v.revocation_seq(), seq);
    assert_eq!(v.load_revocations(token), Ok(seq), "the same list again");
    if let Some(next) = seq.checked_add(1) {
        let mut newer = licd_fuzz::verifier_with_min_seq(next);
        assert_eq!(
            newer.load_revocations(token),
            Err(VerifyError::StaleRevocationList {
                current: next,
                offered: seq
            })
        );
        assert_eq!(newer.revocation_seq(), next);
    }
    let list = client_verifier::danger::decode_unverified(token).expect("a loaded list decodes");
    let list: serde_json::Value = serde_json::from_slice(&list.message).expect("list is JSON");
    for jti in list["revoked"].as_array().into_iter().flatten().take(4) {
        let Some(jti) = jti.as_str() else { continue };
        let mut c = Claims::new(
            ISSUER,
            "cust",
            jti,
            PRODUCT,
            "sku",
            "order",
            Timestamp::from_unix(NOW.unix() - 86_400),
            Timestamp::from_unix(NOW.unix() + 86_400),
            Timestamp::from_unix(NOW.unix() + 2 * 86_400),
        );
        c.binding = None;
        let Ok(license) = mint(&CURRENT, &c) else {
            continue; // an id too long for a token
        };
        assert_eq!(
            v.verify(&license, None, NOW),
            Err(VerifyError::Revoked {
                jti: jti.to_string()
            }),
            "license {jti:?} is on the list"
        );
    }
}
