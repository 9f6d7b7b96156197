//! Interoperability with `pasetors`, a Rust PASETO implementation no one here wrote (its own
//! ed25519, base64 and pre-authentication encoding).
//!
//! Our golden token verifies there; a token it signs with the vectors' key verifies here.

use client_verifier::{Fingerprint, PublicKey, Timestamp, Verifier};
use pasetors::claims::Claims as PClaims;
use pasetors::keys::{AsymmetricKeyPair, AsymmetricPublicKey, AsymmetricSecretKey, Generate};
use pasetors::token::UntrustedToken;
use pasetors::version4::{PublicToken, V4};
use pasetors::{Public, version4};
use serde_json::Value;

struct Golden {
    public: String,
    secret: String,
    token: String,
    device: String,
}

fn golden() -> Golden {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/vectors/license-v1.json");
    let doc: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let case = doc["cases"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "active_on_bound_device")
        .unwrap();
    let s = |v: &Value| v.as_str().unwrap().to_string();
    Golden {
        public: s(&doc["keys"]["current"]["public"]),
        secret: s(&doc["keys"]["current"]["secret"]),
        token: s(&case["token"]),
        device: s(&case["device"]),
    }
}

/// pasetors' signature check alone: its claim validation reads the real clock, and the golden
/// token's claims are checked against fixed times by our own tests.
fn pasetors_verify(public: &str, token: &str) -> Result<Value, pasetors::errors::Error> {
    let key = AsymmetricPublicKey::<V4>::try_from(public)?;
    let untrusted = UntrustedToken::<Public, V4>::try_from(token)?;
    let trusted = PublicToken::verify(&key, &untrusted, None, None)?;
    let claims = PClaims::from_string(trusted.payload())?;
    Ok(serde_json::from_str(&claims.to_string()?).unwrap())
}

fn verifier(public: &str) -> Verifier {
    Verifier::builder()
        .trust(PublicKey::from_paserk(public).unwrap())
        .issuer("acme-isv")
        .product("OFFI454488918838374")
        .build()
}

#[test]
fn pasetors_accepts_our_token_and_reads_the_same_claims() {
    let g = golden();
    let claims = pasetors_verify(&g.public, &g.token).unwrap();
    let now = Timestamp::parse_rfc3339("2026-06-01T00:00:00Z").unwrap();
    let device = Fingerprint::parse(&g.device).unwrap();
    let ours = verifier(&g.public)
        .verify(&g.token, Some(&device), now)
        .unwrap();
    assert_eq!(claims["iss"], "acme-isv");
    assert_eq!(claims["jti"], ours.claims().jti.as_str());
    assert_eq!(claims["exp"], ours.claims().exp.to_rfc3339().as_str());

    // One changed signature character: pasetors refuses it too.
    let mut forged = g.token.clone().into_bytes();
    let at = g.token.rfind('.').unwrap() - 5;
    forged[at] = if forged[at] == b'A' { b'B' } else { b'A' };
    let forged = String::from_utf8(forged).unwrap();
    assert!(pasetors_verify(&g.public, &forged).is_err());
}

#[test]
fn we_accept_a_token_pasetors_signs_with_our_key() {
    let g = golden();
    let now = Timestamp::parse_rfc3339("2026-06-01T00:00:00Z").unwrap();
    let device = Fingerprint::parse(&g.device).unwrap();
    let original = verifier(&g.public)
        .verify(&g.token, Some(&device), now)
        .unwrap();

    // Our payload and footer, with another expiry, signed by pasetors.
    let claims = pasetors_verify(&g.public, &g.token).unwrap();
    let mut changed = claims.clone();
    changed["exp"] = "2099-12-31T00:00:00Z".into();
    changed["freeze_until"] = "2100-01-15T00:00:00Z".into();
    let footer = {
        use base64::Engine as _;
        let b64 = g.token.rsplit('.').next().unwrap();
        base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(b64)
            .unwrap()
    };
    let secret = AsymmetricSecretKey::<V4>::try_from(g.secret.as_str()).unwrap();
    let payload = serde_json::to_vec(&changed).unwrap();
    let token = version4::PublicToken::sign(&secret, &payload, Some(&footer), None).unwrap();

    let v = verifier(&g.public)
        .verify(&token, Some(&device), now)
        .unwrap();
    assert!(v.is_active());
    assert_eq!(
        v.claims().exp,
        Timestamp::parse_rfc3339("2099-12-31T00:00:00Z").unwrap()
    );
    assert_eq!(v.claims().jti, original.claims().jti);
    assert_eq!(v.claims().binding, original.claims().binding);

    // Signed by pasetors with another key: refused here.
    let other = AsymmetricKeyPair::<V4>::generate().unwrap().secret;
    let token = version4::PublicToken::sign(&other, &payload, Some(&footer), None).unwrap();
    assert!(
        verifier(&g.public)
            .verify(&token, Some(&device), now)
            .is_err()
    );
}
