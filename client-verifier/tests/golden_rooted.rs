//! Golden vectors of the key hierarchy: a fixed root, certificates, key revocations, tokens, and
//! the verdict each must get from a verifier that trusts the root.
//!
//! `tests/vectors/rooted-v1.json` pins the formats of the root document, the certificate in a
//! token's footer and the key revocation statement. `license-v1.json` is untouched by them. The
//! file is written by this test when `LICD_REGENERATE_VECTORS=1` (feature `sign`), only ever on
//! purpose: a changed file is a changed format.

use client_verifier::{
    BindingRequirement, KeyRevocations, LicenseStatus, PublicKey, Root, TimeGuard, Timestamp,
    Verifier,
};
use serde_json::{Value, json};

const PATH: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/vectors/rooted-v1.json");

fn t(s: &str) -> Timestamp {
    Timestamp::parse_rfc3339(s).unwrap()
}

/// Runs one case: a verifier trusting the case's root (and its directly trusted keys, if any),
/// the key revocations it names loaded, then the token checked at `now`.
fn run(doc: &Value, case: &Value) -> Value {
    let opts = &case["verifier"];
    let mut b = Verifier::builder()
        .issuer("acme-isv")
        .binding(BindingRequirement::Optional);
    if let Some(p) = opts["product"].as_str() {
        b = b.product(p);
    }
    let root = opts["root"]
        .as_str()
        .map(|name| Root::from_json(doc["roots"][name].as_str().unwrap()).unwrap());
    if let Some(root) = &root {
        b = b.trust_root(root.clone());
    }
    for name in opts["trust"].as_array().into_iter().flatten() {
        let paserk = doc["keys"][name.as_str().unwrap()].as_str().unwrap();
        b = b.trust(PublicKey::from_paserk(paserk).unwrap());
    }
    let mut verifier = b.build();
    let mut guard = TimeGuard::default();
    if let Some(name) = case["key_revocations"].as_str() {
        let statement = doc["key_revocations"][name].as_str().unwrap();
        if let Err(e) = verifier.load_key_revocations_guarded(statement, &mut guard) {
            return json!({ "error": e.name() });
        }
        // A reader of the file can check the statement on its own too.
        let root = root.as_ref().unwrap();
        assert!(KeyRevocations::from_json(statement, root).is_ok());
    }
    let now = t(case["now"].as_str().unwrap());
    match verifier.verify_guarded(case["token"].as_str().unwrap(), None, now, &mut guard) {
        Ok(l) => match l.status() {
            LicenseStatus::Active { expires_at } => {
                json!({ "status": "active", "at": expires_at.to_rfc3339() })
            }
            other => json!({ "status": other.to_string() }),
        },
        Err(e) => json!({ "error": e.name() }),
    }
}

#[test]
fn every_rooted_case_gets_its_verdict() {
    #[cfg(feature = "sign")]
    if std::env::var_os("LICD_REGENERATE_VECTORS").is_some() {
        let text = serde_json::to_string_pretty(&generate::document()).unwrap() + "\n";
        std::fs::write(PATH, text).unwrap();
    }
    let doc: Value = serde_json::from_str(&std::fs::read_to_string(PATH).unwrap()).unwrap();
    let cases = doc["cases"].as_array().unwrap();
    assert!(cases.len() >= 8, "vector file lost cases");
    let failures: Vec<String> = cases
        .iter()
        .filter_map(|case| {
            let got = run(&doc, case);
            (got != case["expect"])
                .then(|| format!("{}: expected {}, got {}", case["name"], case["expect"], got))
        })
        .collect();
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    // Both verdicts are in the file: some verify, some are refused as uncertified.
    for needed in [json!("active"), json!("Uncertified")] {
        assert!(
            cases
                .iter()
                .any(|c| c["expect"]["status"] == needed || c["expect"]["error"] == needed),
            "no rooted case ends in {needed}"
        );
    }
}

#[cfg(feature = "sign")]
mod generate {
    //! Writes the vector file. Deterministic: fixed seeds, and ed25519 is deterministic.

    use client_verifier::{
        Certificate, Claims, Grant, KeyRevocations, Purposes, Root, SecretKey, mint,
        mint_certified, paseto,
    };
    use serde_json::{Value, json};

    use super::t;

    fn claims(exp: &str) -> Claims {
        Claims::new(
            "acme-isv",
            "cust-6a1f",
            "lic-root-0001",
            "OFFI454488918838374",
            "sku-pro-1y",
            "CS2612050001ABCD",
            t("2026-06-01T00:00:00Z"),
            t(exp),
            t(exp).add_secs(15 * 86_400),
        )
    }

    fn grant(key: &SecretKey, products: &[&str]) -> Grant {
        Grant {
            key: key.public_key().clone(),
            not_before: t("2026-01-01T00:00:00Z"),
            not_after: t("2027-01-01T00:00:00Z"),
            max_exp: t("2028-01-01T00:00:00Z"),
            purposes: Purposes::DEFAULT,
            products: products.iter().map(|p| p.to_string()).collect(),
        }
    }

    fn with_footer(key: &SecretKey, cert: &Certificate, c: &Claims) -> String {
        let footer = format!(
            r#"{{"kid":"{}","cert":"{}"}}"#,
            key.public_key().id(),
            cert.encode()
        );
        paseto::sign(key, &serde_json::to_vec(c).unwrap(), footer.as_bytes(), b"")
    }

    pub(super) fn document() -> Value {
        let root_keys: Vec<SecretKey> = (0..3u8)
            .map(|i| SecretKey::from_seed(&[0x40 + i; 32]))
            .collect();
        let public: Vec<_> = root_keys.iter().map(|k| k.public_key().clone()).collect();
        let root = Root::sign(1, 2, &public, &[&root_keys[0], &root_keys[2]]).unwrap();
        let stranger = SecretKey::from_seed(&[0x50; 32]);
        let other_root = Root::sign(1, 1, &[stranger.public_key().clone()], &[&stranger]).unwrap();
        let issuing = SecretKey::from_seed(&[0x60; 32]);
        let revoked = SecretKey::from_seed(&[0x61; 32]);
        let two = [&root_keys[0], &root_keys[1]];
        let cert = Certificate::sign(grant(&issuing, &["OFFI454488918838374"]), &two).unwrap();
        let cert_other_product = Certificate::sign(grant(&issuing, &["OFFI-OTHER"]), &two).unwrap();
        let cert_one_signature = Certificate::sign(grant(&issuing, &[]), &[&root_keys[1]]).unwrap();
        let cert_stranger = Certificate::sign(grant(&issuing, &[]), &[&stranger]).unwrap();
        let cert_revoked = Certificate::sign(grant(&revoked, &[]), &two).unwrap();
        let statement = KeyRevocations::sign(
            1,
            1,
            vec![revoked.public_key().id().as_str().to_string()],
            0,
            &[&root_keys[1], &root_keys[2]],
        )
        .unwrap();
        let c = claims("2027-06-01T00:00:00Z");
        let rooted = json!({ "root": "acme", "product": "OFFI454488918838374" });
        let case = |name: &str, token: String, verifier: &Value, rest: Value, expect: Value| {
            let mut v = json!({
                "name": name, "token": token, "verifier": verifier,
                "now": "2026-09-01T00:00:00Z", "expect": expect,
            });
            for (k, x) in rest.as_object().unwrap() {
                v[k] = x.clone();
            }
            v
        };
        let refused = json!({ "error": "Uncertified" });
        let active = json!({ "status": "active", "at": "2027-06-01T00:00:00Z" });
        json!({
            "description": "Key hierarchy: root documents (licd-root), certificates in token footers, key revocation statements (licd-key-revocations). Each case: a verifier trusting verifier.root (and keys verifier.trust directly), binding optional, issuer acme-isv, the key revocations named loaded, the token checked at now. Regenerate: LICD_REGENERATE_VECTORS=1 cargo test -p client-verifier --features sign --test golden_rooted",
            "roots": { "acme": root.to_json(), "stranger": other_root.to_json() },
            "keys": {
                "issuing": issuing.public_key().to_paserk(),
                "revoked": revoked.public_key().to_paserk(),
            },
            "certificates": { "issuing": cert.encode() },
            "key_revocations": { "acme-1": statement },
            "cases": [
                case("active_through_the_root", mint_certified(&issuing, &cert, &c).unwrap(), &rooted, json!({}), active.clone()),
                case("a_key_trusted_directly_ignores_the_certificate", mint_certified(&issuing, &cert, &c).unwrap(),
                    &json!({ "trust": ["issuing"], "product": "OFFI454488918838374" }), json!({}), active.clone()),
                case("certificate_for_another_product", with_footer(&issuing, &cert_other_product, &c), &rooted, json!({}), refused.clone()),
                case("fewer_root_signatures_than_the_threshold", with_footer(&issuing, &cert_one_signature, &c), &rooted, json!({}), refused.clone()),
                case("certificate_of_another_root", with_footer(&issuing, &cert_stranger, &c), &rooted, json!({}), refused.clone()),
                case("exp_beyond_the_certificates_bound", with_footer(&issuing, &cert, &claims("2029-01-01T00:00:00Z")), &rooted, json!({}), refused.clone()),
                case("no_certificate", mint(&issuing, &c).unwrap(), &rooted, json!({}), refused.clone()),
                case("signed_by_a_revoked_key", mint_certified(&revoked, &cert_revoked, &c).unwrap(), &rooted,
                    json!({ "key_revocations": "acme-1" }), refused.clone()),
                case("the_same_key_before_its_revocation", mint_certified(&revoked, &cert_revoked, &c).unwrap(), &rooted,
                    json!({}), active),
                case("another_roots_verifier", mint_certified(&issuing, &cert, &c).unwrap(),
                    &json!({ "root": "stranger" }), json!({}), refused),
            ],
        })
    }
}
