//! A license verified through a certificate chain (the verifier trusts a root; the certificate
//! in the footer is checked once and cached) next to the same claims verified directly (the
//! verifier trusts the issuing key), in one run. Results go to BENCHMARKS.md.
//!
//! Run: cargo bench -p client-verifier --features sign --bench rooted

use std::hint::black_box;

use client_verifier::{
    BindingRequirement, Certificate, Claims, Grant, Purposes, Root, SecretKey, Timestamp, Verifier,
    mint, mint_certified,
};
use criterion::{Criterion, criterion_group, criterion_main};

fn t(s: &str) -> Timestamp {
    Timestamp::parse_rfc3339(s).unwrap()
}

fn rooted_vs_direct(c: &mut Criterion) {
    let issuing = SecretKey::from_seed(&[7; 32]);
    let root_key = SecretKey::from_seed(&[9; 32]);
    let root = Root::sign(1, 1, &[root_key.public_key().clone()], &[&root_key]).unwrap();
    let root = Root::from_json(root.to_json()).unwrap();
    let cert = Certificate::sign(
        Grant {
            key: issuing.public_key().clone(),
            not_before: t("2026-01-01T00:00:00Z"),
            not_after: t("2027-01-01T00:00:00Z"),
            max_exp: t("2030-01-01T00:00:00Z"),
            purposes: Purposes::DEFAULT,
            products: vec!["OFFI454488918838374".into()],
        },
        &[&root_key],
    )
    .unwrap();
    let mut claims = Claims::new(
        "acme-isv",
        "customer-1",
        "lic-1",
        "OFFI454488918838374",
        "sku-pro",
        "CS1",
        t("2026-03-01T00:00:00Z"),
        t("2027-03-01T00:00:00Z"),
        t("2027-03-16T00:00:00Z"),
    );
    claims
        .entitlements
        .insert("export_dxf".into(), serde_json::Value::Bool(true));
    let direct_token = mint(&issuing, &claims).unwrap();
    let rooted_token = mint_certified(&issuing, &cert, &claims).unwrap();
    let build = |b: client_verifier::VerifierBuilder| {
        b.issuer("acme-isv")
            .product("OFFI454488918838374")
            .binding(BindingRequirement::Optional)
            .build()
    };
    let direct = build(Verifier::builder().trust(issuing.public_key().clone()));
    let rooted = build(Verifier::builder().trust_root(root));
    let now = t("2026-06-01T00:00:00Z");
    assert!(direct.verify(&direct_token, None, now).unwrap().is_active());
    assert!(rooted.verify(&rooted_token, None, now).unwrap().is_active());
    println!(
        "token length: direct {} characters, rooted {} characters",
        direct_token.len(),
        rooted_token.len()
    );

    let mut g = c.benchmark_group("verify_direct_vs_rooted");
    g.bench_function("direct (trusted issuing key)", |b| {
        b.iter(|| direct.verify(black_box(&direct_token), None, now))
    });
    g.bench_function("rooted (certificate cached)", |b| {
        b.iter(|| rooted.verify(black_box(&rooted_token), None, now))
    });
    g.finish();
}

criterion_group!(benches, rooted_vs_direct);
criterion_main!(benches);
