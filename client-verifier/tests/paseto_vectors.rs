//! The public PASETO v4.public test vectors through the low-level sign and verify functions.

use client_verifier::paseto;
use client_verifier::{PublicKey, VerifyError};
use serde_json::Value;

fn vectors() -> Vec<Value> {
    let text = include_str!("vectors/paseto-v4-public.json");
    let doc: Value = serde_json::from_str(text).unwrap();
    doc["tests"].as_array().unwrap().clone()
}

fn s<'a>(v: &'a Value, key: &str) -> &'a str {
    v[key].as_str().unwrap()
}

#[test]
fn official_vectors_verify_and_yield_their_payload() {
    for t in vectors() {
        let key = PublicKey::from_paserk(s(&t["paserk"], "public")).unwrap();
        let implicit = s(&t, "implicit-assertion").as_bytes();
        let out = paseto::verify(&key, s(&t, "token"), implicit)
            .unwrap_or_else(|e| panic!("{}: {e}", s(&t, "name")));
        let payload: Value = serde_json::from_slice(&out.message).unwrap();
        assert_eq!(payload, t["payload"], "{}", s(&t, "name"));
        assert_eq!(out.footer, s(&t, "footer").as_bytes(), "{}", s(&t, "name"));
    }
}

#[test]
fn official_vectors_fail_with_the_wrong_implicit_assertion() {
    for t in vectors() {
        let key = PublicKey::from_paserk(s(&t["paserk"], "public")).unwrap();
        let wrong = format!("{}x", s(&t, "implicit-assertion"));
        assert_eq!(
            paseto::verify(&key, s(&t, "token"), wrong.as_bytes()),
            Err(VerifyError::BadSignature),
            "{}",
            s(&t, "name")
        );
    }
}

#[cfg(feature = "sign")]
#[test]
fn signing_reproduces_the_official_tokens_byte_for_byte() {
    use client_verifier::SecretKey;
    for t in vectors() {
        let key = SecretKey::from_paserk(s(&t["paserk"], "secret")).unwrap();
        assert_eq!(key.public_key().to_paserk(), s(&t["paserk"], "public"));
        // The vectors sign the payload exactly as serialised in the token, not re-encoded JSON.
        let token = s(&t, "token");
        let body = token
            .trim_start_matches("v4.public.")
            .split('.')
            .next()
            .unwrap();
        let payload = base64_decode(body);
        let message = &payload[..payload.len() - 64];
        let signed = paseto::sign(
            &key,
            message,
            s(&t, "footer").as_bytes(),
            s(&t, "implicit-assertion").as_bytes(),
        );
        assert_eq!(signed, token, "{}", s(&t, "name"));
    }
}

/// PASERK ids as computed by an independent implementation (pyseto 1.10) for the vectors' key.
#[test]
fn key_id_matches_the_paserk_algorithm() {
    let key =
        PublicKey::from_paserk("k4.public.Hrnbu7wEfAP9cGBOAHHwmH4Wsot1ciXBHwBBXQ4gsaI").unwrap();
    assert_eq!(
        key.id().as_str(),
        "k4.pid.yh4-bJYjOYAG6CWy0zsfPmpKylxS7uAWrxqVmBN2KAiJ"
    );
}

#[cfg(feature = "sign")]
fn base64_decode(s: &str) -> Vec<u8> {
    // Tiny decoder so the test does not trust the crate's own base64 path.
    const A: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut bits = 0u32;
    let mut n = 0;
    let mut out = Vec::new();
    for c in s.bytes() {
        let v = A.iter().position(|&a| a == c).unwrap() as u32;
        bits = (bits << 6) | v;
        n += 6;
        if n >= 8 {
            n -= 8;
            out.push((bits >> n) as u8);
            bits &= (1 << n) - 1;
        }
    }
    out
}
