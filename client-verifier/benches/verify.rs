//! `Verifier::verify` next to a bare ed25519 `verify_strict` of the same signed message, in one
//! run; `Verifier::verify` next to `pasetors` verifying one token; and this machine's
//! fingerprint collection. Results go to BENCHMARKS.md.

use std::hint::black_box;

use client_verifier::paseto::pae;
use client_verifier::{Fingerprint, PublicKey, Timestamp, Verifier};
use criterion::{Criterion, criterion_group, criterion_main};
use ed25519_dalek::{Signature, VerifyingKey};
use serde_json::Value;

/// The golden vectors' typical case: a device-bound license with entitlements.
fn typical() -> (String, String, String) {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/vectors/license-v1.json");
    let doc: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let case = doc["cases"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "active_on_bound_device")
        .unwrap()
        .clone();
    let public = doc["keys"]["current"]["public"]
        .as_str()
        .unwrap()
        .to_string();
    let token = case["token"].as_str().unwrap().to_string();
    let device = case["device"].as_str().unwrap().to_string();
    (public, token, device)
}

fn b64(s: &str) -> Vec<u8> {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(s)
        .unwrap()
}

fn verify_vs_bare(c: &mut Criterion) {
    let (public, token, device) = typical();
    let key = PublicKey::from_paserk(&public).unwrap();
    let verifier = Verifier::builder()
        .trust(key.clone())
        .issuer("acme-isv")
        .product("OFFI454488918838374")
        .build();
    let device = Fingerprint::parse(&device).unwrap();
    let now = Timestamp::parse_rfc3339("2026-06-01T00:00:00Z").unwrap();
    assert!(
        verifier
            .verify(&token, Some(&device), now)
            .unwrap()
            .is_active()
    );

    // The bare check: the same pre-authentication encoding and signature, nothing else.
    let rest = token.strip_prefix("v4.public.").unwrap();
    let (body, footer) = rest.split_once('.').unwrap();
    let payload = b64(body);
    let (message, sig) = payload.split_at(payload.len() - 64);
    let m2 = pae(&[b"v4.public.", message, &b64(footer), b""]);
    let sig = Signature::from_slice(sig).unwrap();
    let bare = VerifyingKey::from_bytes(&key.to_bytes()).unwrap();
    bare.verify_strict(&m2, &sig).unwrap();

    let mut g = c.benchmark_group("verify_typical_token");
    g.bench_function("bare_ed25519_verify_strict", |b| {
        b.iter(|| bare.verify_strict(black_box(&m2), black_box(&sig)))
    });
    g.bench_function("Verifier::verify", |b| {
        b.iter(|| verifier.verify(black_box(&token), Some(black_box(&device)), now))
    });
    g.finish();
}

/// The same v4.public token through `Verifier::verify` and through `pasetors::public::verify`
/// (signature, then its claims parsing and checks of issuer and times). The golden payload is
/// re-signed by pasetors with an expiry in 2099, because pasetors checks times against the real
/// clock.
fn verify_vs_pasetors(c: &mut Criterion) {
    use pasetors::claims::ClaimsValidationRules;
    use pasetors::keys::{AsymmetricPublicKey, AsymmetricSecretKey};
    use pasetors::token::UntrustedToken;
    use pasetors::version4::V4;

    let (public, token, device) = typical();
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/vectors/license-v1.json");
    let doc: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let secret = doc["keys"]["current"]["secret"].as_str().unwrap();
    let (body, footer) = token
        .strip_prefix("v4.public.")
        .unwrap()
        .split_once('.')
        .unwrap();
    let payload = b64(body);
    let mut claims: Value = serde_json::from_slice(&payload[..payload.len() - 64]).unwrap();
    claims["exp"] = "2099-12-31T00:00:00Z".into();
    claims["freeze_until"] = "2100-01-15T00:00:00Z".into();
    let secret = AsymmetricSecretKey::<V4>::try_from(secret).unwrap();
    let token = pasetors::version4::PublicToken::sign(
        &secret,
        &serde_json::to_vec(&claims).unwrap(),
        Some(&b64(footer)),
        None,
    )
    .unwrap();

    let verifier = Verifier::builder()
        .trust(PublicKey::from_paserk(&public).unwrap())
        .issuer("acme-isv")
        .product("OFFI454488918838374")
        .build();
    let device = Fingerprint::parse(&device).unwrap();
    let now = Timestamp::parse_rfc3339("2026-06-01T00:00:00Z").unwrap();
    assert!(
        verifier
            .verify(&token, Some(&device), now)
            .unwrap()
            .is_active()
    );
    let pkey = AsymmetricPublicKey::<V4>::try_from(public.as_str()).unwrap();
    let mut rules = ClaimsValidationRules::new();
    rules.validate_issuer_with("acme-isv");
    let pasetors_verify = |t: &str| {
        let untrusted = UntrustedToken::<pasetors::Public, V4>::try_from(t)?;
        pasetors::public::verify(&pkey, &untrusted, &rules, None, None)
    };
    pasetors_verify(&token).unwrap();

    let mut g = c.benchmark_group("verify_vs_pasetors");
    g.bench_function("Verifier::verify", |b| {
        b.iter(|| verifier.verify(black_box(&token), Some(black_box(&device)), now))
    });
    g.bench_function("pasetors::public::verify", |b| {
        b.iter(|| pasetors_verify(black_box(&token)))
    });
    g.finish();
}

fn collect_fingerprint(c: &mut Criterion) {
    c.bench_function("Fingerprint::collect", |b| b.iter(Fingerprint::collect));
}

criterion_group!(
    benches,
    verify_vs_bare,
    verify_vs_pasetors,
    collect_fingerprint
);
criterion_main!(benches);
