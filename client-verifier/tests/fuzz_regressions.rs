//! Inputs the fuzz targets in `fuzz/` failed on, each kept as a named test (the input is also in
//! `fuzz/corpus/<target>/regression-*`, so the fuzz run replays it too).

use client_verifier::{Fingerprint, FingerprintError, fingerprint::MAX_LEN};

/// `fingerprint` target, parse → display → parse: 'ΐ' (U+0390, 2 bytes) upper-cases to three
/// code points, 6 bytes. A 5,119-byte fingerprint of them was accepted and printed as 15,351
/// bytes, which `parse` then refused as too long: what `licctl fingerprint` prints, or an
/// application stores, would not read back. The normalised form is now held to the limit too.
#[test]
fn fingerprint_that_grows_when_upper_cased_is_refused_rather_than_unprintable() {
    let grows = format!("{}|||", "\u{390}".repeat(2558));
    assert!(grows.len() <= MAX_LEN);
    assert_eq!(
        Fingerprint::parse(&grows),
        Err(FingerprintError::TooLong { len: 15_351 })
    );

    // Below the limit once normalised, the same characters are fine and read back.
    let fits = format!("{}|D1||C1", "\u{390}".repeat(800));
    let fp = Fingerprint::parse(&fits).unwrap();
    let shown = fp.to_string();
    assert!(shown.len() > fits.len() && shown.len() <= MAX_LEN);
    assert_eq!(Fingerprint::parse(&shown), Ok(fp));
}

/// `token_verify` target, verified claims minted again must verify to the same claims: a float
/// entitlement did not. serde_json's default float parsing is best-effort and can land one ULP
/// off, so `6.178787134922198e305` written into a token came back as `6.178787134922199e305`:
/// the verifier reported a value the issuer never signed, and every re-mint (renewal, reissue)
/// moved it again. The `float_roundtrip` feature makes reading exact.
#[cfg(feature = "sign")]
#[test]
fn float_entitlement_reads_back_exactly_across_mint_and_verify() {
    use client_verifier::{BindingRequirement, Claims, SecretKey, Timestamp, Verifier, mint};

    let key = SecretKey::from_seed(&[0x11; 32]);
    let t = |s| Timestamp::parse_rfc3339(s).unwrap();
    let mut claims = Claims::new(
        "acme",
        "cust",
        "lic-1",
        "prod",
        "sku",
        "order",
        t("2026-01-01T00:00:00Z"),
        t("2027-01-01T00:00:00Z"),
        t("2027-01-16T00:00:00Z"),
    );
    for (name, number) in [
        ("ratio", "6.178787134922198e+305"),
        ("small", "5.0513463356317975e-231"),
        ("plain", "0.1"),
    ] {
        let value: serde_json::Value = serde_json::from_str(number).unwrap();
        claims.entitlements.insert(name.into(), value);
    }
    let verifier = Verifier::builder()
        .trust(key.public_key().clone())
        .binding(BindingRequirement::Optional)
        .build();
    let token = mint(&key, &claims).unwrap();
    let verified = verifier
        .verify(&token, None, t("2026-06-01T00:00:00Z"))
        .unwrap();
    assert_eq!(verified.claims(), &claims);
    assert_eq!(mint(&key, verified.claims()).unwrap(), token);
}
