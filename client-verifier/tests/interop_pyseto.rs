//! Interoperability with an implementation no one here wrote: Python's `pyseto`.
//!
//! Tokens minted here must verify there, and tokens it signs with our key must verify here.
//! These tests need pyseto, so they are `#[ignore]`d: a plain `cargo test` reports them as
//! ignored, never as passed. CI installs pyseto, sets `LICD_PYTHON` and runs them with
//! `--include-ignored`; run so without pyseto, they fail. On a developer machine:
//! `pip install pyseto`, then
//! `cargo test -p client-verifier --features sign --test interop_pyseto -- --include-ignored`.
#![cfg(feature = "sign")]

use std::process::Command;

use client_verifier::{
    Binding, Claims, Fingerprint, LicenseStatus, SecretKey, Timestamp, Verifier, VerifyError, mint,
};
use serde_json::Value;

const PEER: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/interop/pyseto_peer.py");

/// The interpreter with pyseto (`LICD_PYTHON`, else `python3`); these tests run only when asked
/// for, so a missing pyseto is a failure.
fn python() -> String {
    let py = std::env::var("LICD_PYTHON").unwrap_or_else(|_| "python3".into());
    let ok = Command::new(&py)
        .args(["-c", "import pyseto"])
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        ok,
        "pyseto is not importable by {py}: `pip install pyseto` or set LICD_PYTHON (CI installs it, see .ci/run)"
    );
    py
}

fn peer(py: &str, args: &[&str]) -> Result<Value, String> {
    let out = Command::new(py).arg(PEER).args(args).output().unwrap();
    if out.status.success() {
        Ok(serde_json::from_slice(&out.stdout).unwrap())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

fn t(s: &str) -> Timestamp {
    Timestamp::parse_rfc3339(s).unwrap()
}

fn claims() -> Claims {
    let mut c = Claims::new(
        "acme-isv",
        "cust-1",
        "lic-interop",
        "OFFI1",
        "sku",
        "order-1",
        t("2026-01-01T00:00:00Z"),
        t("2027-01-01T00:00:00Z"),
        t("2027-01-16T00:00:00Z"),
    );
    let device = Fingerprint::parse("04:7C:16:5E:E3:5D|SN1|BOARD1|BFEBFBFF00090672").unwrap();
    c.binding = Some(Binding::new(&device, [9; 8]));
    c.entitlements.insert("seats".into(), 5.into());
    c
}

#[test]
#[ignore = "needs pyseto; CI runs it with --include-ignored"]
fn token_minted_here_verifies_with_pyseto() {
    let py = python();
    let key = SecretKey::generate().unwrap();
    let token = mint(&key, &claims()).unwrap();
    let out = peer(&py, &["verify", &key.public_key().to_paserk(), &token]).unwrap();
    let payload: Value = serde_json::from_str(out["payload"].as_str().unwrap()).unwrap();
    assert_eq!(payload, serde_json::to_value(claims()).unwrap());
    let footer: Value = serde_json::from_str(out["footer"].as_str().unwrap()).unwrap();
    assert_eq!(footer["kid"], key.public_key().id().as_str());

    // And pyseto refuses it under another key: the check above is not vacuous.
    let other = SecretKey::generate().unwrap();
    assert!(peer(&py, &["verify", &other.public_key().to_paserk(), &token]).is_err());
}

#[test]
#[ignore = "needs pyseto; CI runs it with --include-ignored"]
fn token_signed_by_pyseto_verifies_here() {
    let py = python();
    let key = SecretKey::generate().unwrap();
    let payload = serde_json::to_string(&claims()).unwrap();
    let footer = format!("{{\"kid\":\"{}\"}}", key.public_key().id());
    let out = peer(&py, &["sign", &key.to_paserk(), &payload, &footer]).unwrap();
    let token = out["token"].as_str().unwrap();

    let verifier = Verifier::builder()
        .trust(key.public_key().clone())
        .issuer("acme-isv")
        .product("OFFI1")
        .build();
    // A new disk: the mainboard serial still matches.
    let device = Fingerprint::parse("04:7C:16:5E:E3:5D|SN2|BOARD1|BFEBFBFF00090672").unwrap();
    let license = verifier
        .verify(token, Some(&device), t("2026-03-01T00:00:00Z"))
        .unwrap();
    assert_eq!(
        license.status(),
        LicenseStatus::Active {
            expires_at: t("2027-01-01T00:00:00Z")
        }
    );
    // Ed25519 is deterministic, so both implementations produce the very same token.
    assert_eq!(token, mint(&key, &claims()).unwrap());

    let mut forged = token.to_string();
    forged.replace_range(30..31, if &token[30..31] == "A" { "B" } else { "A" });
    assert_eq!(
        verifier
            .verify(&forged, Some(&device), t("2026-03-01T00:00:00Z"))
            .unwrap_err(),
        VerifyError::BadSignature
    );
}

/// A token under the key hierarchy is still a plain v4.public token: its certificate is one
/// more field of the (signed) footer, which pyseto checks with the issuing key alone.
#[test]
#[ignore = "needs pyseto; CI runs it with --include-ignored"]
fn rooted_token_verifies_with_pyseto() {
    use client_verifier::{Certificate, Grant, Purposes, mint_certified};
    let py = python();
    let (root_key, key) = (
        SecretKey::generate().unwrap(),
        SecretKey::generate().unwrap(),
    );
    let cert = Certificate::sign(
        Grant {
            key: key.public_key().clone(),
            not_before: t("2025-01-01T00:00:00Z"),
            not_after: t("2027-01-01T00:00:00Z"),
            max_exp: t("2030-01-01T00:00:00Z"),
            purposes: Purposes::DEFAULT,
            products: vec!["OFFI1".into()],
        },
        &[&root_key],
    )
    .unwrap();
    let token = mint_certified(&key, &cert, &claims()).unwrap();
    let out = peer(&py, &["verify", &key.public_key().to_paserk(), &token]).unwrap();
    let footer: Value = serde_json::from_str(out["footer"].as_str().unwrap()).unwrap();
    assert_eq!(footer["kid"], key.public_key().id().as_str());
    assert_eq!(footer["cert"], cert.encode().as_str());
    // A footer with another certificate is another signed message: pyseto refuses it.
    let (body, _) = token.rsplit_once('.').unwrap();
    let swapped = format!(
        "{body}.{}",
        base64_url(format!(r#"{{"kid":"{}","cert":"AAAA"}}"#, key.public_key().id()).as_bytes())
    );
    assert!(peer(&py, &["verify", &key.public_key().to_paserk(), &swapped]).is_err());
}

/// Floating licenses: the license token (status `floating`) and a lease are plain v4.public
/// tokens too; pyseto verifies both signatures and reads the claims licd wrote.
#[test]
#[ignore = "needs pyseto; CI runs it with --include-ignored"]
fn floating_license_and_lease_verify_with_pyseto() {
    use client_verifier::{Binding, Fingerprint, LeaseClaims, TokenStatus, mint_lease};
    let py = python();
    let key = SecretKey::generate().unwrap();
    let mut floating = claims();
    floating.status = TokenStatus::Floating;
    let license = mint(&key, &floating).unwrap();
    let out = peer(&py, &["verify", &key.public_key().to_paserk(), &license]).unwrap();
    let payload: Value = serde_json::from_str(out["payload"].as_str().unwrap()).unwrap();
    assert_eq!(payload["status"], "floating");
    let fp = Fingerprint::parse("04:7C:16:5E:E3:5D|SN-1|BOARD-1|BFEBFBFF00090672").unwrap();
    let lease = LeaseClaims::new(
        "acme",
        "lease-1",
        "lic-1",
        "OFFI1",
        "sku",
        0,
        "cad@ws1:77",
        Binding::new(&fp, [1; 8]),
        t("2026-06-01T00:00:00Z"),
        t("2026-06-01T00:10:00Z"),
    );
    let token = mint_lease(&key, None, &lease).unwrap();
    let out = peer(&py, &["verify", &key.public_key().to_paserk(), &token]).unwrap();
    let payload: Value = serde_json::from_str(out["payload"].as_str().unwrap()).unwrap();
    assert_eq!(
        (
            payload["status"].as_str(),
            payload["lic"].as_str(),
            payload["seat"].as_u64()
        ),
        (Some("lease"), Some("lic-1"), Some(0))
    );
}

fn base64_url(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

#[test]
#[ignore = "needs pyseto; CI runs it with --include-ignored"]
fn key_ids_agree_with_pyseto() {
    let py = python();
    for _ in 0..5 {
        let key = SecretKey::generate().unwrap();
        let public = key.public_key();
        let out = peer(&py, &["pid", &public.to_paserk()]).unwrap();
        assert_eq!(out["pid"], public.id().as_str());
    }
}
