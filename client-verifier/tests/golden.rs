//! Golden vectors: fixed keys, tokens, devices and times with the verdict each must get.
//!
//! `tests/vectors/license-v1.json` pins the wire format. Every case is checked here, and the
//! daemon's tests read the same file, so neither side can change the format unnoticed. The file is
//! written by this test when `LICD_REGENERATE_VECTORS=1` (only ever on purpose: a changed file is
//! a changed wire format).

use client_verifier::{
    BindingRequirement, Fingerprint, MatchPolicy, PublicKey, TimeGuard, Timestamp, Verifier,
};
use serde_json::{Value, json};

const PATH: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/vectors/license-v1.json");

fn t(s: &str) -> Timestamp {
    Timestamp::parse_rfc3339(s).unwrap()
}

/// Builds the verifier a case describes.
fn verifier_for(doc: &Value, case: &Value) -> Verifier {
    let opts = &case["verifier"];
    let mut b = Verifier::builder();
    for name in opts["trust"].as_array().unwrap() {
        let paserk = doc["keys"][name.as_str().unwrap()]["public"]
            .as_str()
            .unwrap();
        b = b.trust(PublicKey::from_paserk(paserk).unwrap());
    }
    if let Some(iss) = opts["issuer"].as_str() {
        b = b.issuer(iss);
    }
    if let Some(p) = opts["product"].as_str() {
        b = b.product(p);
    }
    if opts["binding"] == "optional" {
        b = b.binding(BindingRequirement::Optional);
    }
    if opts["policy"] == "all" {
        b = b.match_policy(MatchPolicy::All);
    }
    if let Some(seq) = opts["min_revocation_seq"].as_u64() {
        b = b.min_revocation_seq(seq);
    }
    b.build()
}

/// Runs one case and describes the outcome in the vector file's terms.
fn run(doc: &Value, case: &Value) -> Value {
    let mut verifier = verifier_for(doc, case);
    if let Some(list) = case["revocations"].as_str()
        && let Err(e) = verifier.load_revocations(list)
    {
        return json!({ "error": e.name() });
    }
    let device = case["device"]
        .as_str()
        .map(|d| Fingerprint::parse(d).unwrap());
    let now = t(case["now"].as_str().unwrap());
    let mut guard = TimeGuard::new(t(case["guard_last_seen"]
        .as_str()
        .unwrap_or("1970-01-01T00:00:00Z")));
    match verifier.verify_guarded(
        case["token"].as_str().unwrap(),
        device.as_ref(),
        now,
        &mut guard,
    ) {
        // The names and times the language bindings give too (`LicenseStatus::name`, `at`).
        // Every binding reports the optional claim `origin` as the token carries it.
        Ok(license) if license.origin() != case["claims"]["origin"].as_str() => {
            json!({ "error": "origin read wrong" })
        }
        Ok(license) => {
            let status = license.status();
            json!({ "status": status.name(), "at": status.at().to_rfc3339() })
        }
        Err(e) => json!({ "error": e.name() }),
    }
}

#[test]
fn every_golden_case_gets_its_verdict() {
    #[cfg(feature = "sign")]
    if std::env::var_os("LICD_REGENERATE_VECTORS").is_some() {
        let doc = generate::document();
        let text = serde_json::to_string_pretty(&doc).unwrap() + "\n";
        std::fs::write(PATH, text).unwrap();
    }
    let doc: Value = serde_json::from_str(&std::fs::read_to_string(PATH).unwrap()).unwrap();
    let cases = doc["cases"].as_array().unwrap();
    assert!(cases.len() >= 30, "vector file lost cases");
    let mut failures = Vec::new();
    for case in cases {
        let got = run(&doc, case);
        if got != case["expect"] {
            failures.push(format!(
                "{}: expected {}, got {}",
                case["name"], case["expect"], got
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn golden_cases_cover_every_status_and_error() {
    let doc: Value = serde_json::from_str(&std::fs::read_to_string(PATH).unwrap()).unwrap();
    let outcomes: std::collections::BTreeSet<String> = doc["cases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            let e = &c["expect"];
            e["status"]
                .as_str()
                .or(e["error"].as_str())
                .unwrap()
                .to_string()
        })
        .collect();
    for needed in [
        "active",
        "frozen",
        "expired",
        "check_in_required",
        "Malformed",
        "BadSignature",
        "UnknownKey",
        "WrongIssuer",
        "WrongProduct",
        "NotYetValid",
        "DeviceMismatch",
        "NotBound",
        "Revoked",
        "ClockRollback",
        "StaleRevocationList",
    ] {
        assert!(outcomes.contains(needed), "no golden case ends in {needed}");
    }
}

/// Re-minting each case's claims with its key yields the very token in the file: the issuer's
/// encoding is pinned, not only the verifier's reading of it.
#[cfg(feature = "sign")]
#[test]
fn minting_reproduces_golden_tokens_byte_for_byte() {
    use client_verifier::{Claims, SecretKey, mint};
    let doc: Value = serde_json::from_str(&std::fs::read_to_string(PATH).unwrap()).unwrap();
    let mut checked = 0;
    for case in doc["cases"].as_array().unwrap() {
        let (Some(claims), Some(key)) = (case.get("claims"), case["signed_by"].as_str()) else {
            continue;
        };
        let claims: Claims = serde_json::from_value(claims.clone()).unwrap();
        let secret = doc["keys"][key]["secret"].as_str().unwrap();
        let key = SecretKey::from_paserk(secret).unwrap();
        assert_eq!(
            mint(&key, &claims).unwrap(),
            case["token"].as_str().unwrap(),
            "{}",
            case["name"]
        );
        checked += 1;
    }
    assert!(checked >= 15, "only {checked} cases carry claims");
}

#[cfg(feature = "sign")]
mod generate {
    //! Writes the vector file. Deterministic: fixed seeds and salts, ed25519 is deterministic.

    use client_verifier::paseto;
    use client_verifier::{
        Binding, Claims, Fingerprint, RevocationClaims, SecretKey, TokenStatus, mint,
        sign_revocations,
    };
    use serde_json::{Value, json};

    use super::t;

    const DEVICE: &str = "04:7C:16:5E:E3:5D|001B_444A_488B_5CEC.|PM1AB2CD3EF|BFEBFBFF00090672";
    const SAME_DEVICE_NEW_NIC: &str =
        "0A:00:27:00:00:01|001B_444A_488B_5CEC.|PM1AB2CD3EF|BFEBFBFF00090672";
    const OTHER_DEVICE: &str = "0A:00:27:00:00:01|S3Z9NB0K123456|PM9ZZ8YY7XX|BFEBFBFF00090672";
    const OPAQUE: &str = "8a6f0e6034e2b160e1f2";

    struct Keys {
        current: SecretKey,
        old: SecretKey,
        other: SecretKey,
    }

    fn base() -> Claims {
        let mut c = Claims::new(
            "acme-isv",
            "cust-6a1f",
            "lic-0001",
            "OFFI454488918838374",
            "sku-pro-1y",
            "CS2611230001ABCD",
            t("2026-01-01T00:00:00Z"),
            t("2027-01-01T00:00:00Z"),
            t("2027-01-16T00:00:00Z"),
        );
        c.binding = Some(Binding::new(
            &Fingerprint::parse(DEVICE).unwrap(),
            *b"goldsalt",
        ));
        c.entitlements.insert("edition".into(), json!("pro"));
        c.entitlements.insert("max_projects".into(), json!(20));
        c
    }

    fn verifier() -> Value {
        json!({ "trust": ["current", "old"], "issuer": "acme-isv", "product": "OFFI454488918838374" })
    }

    /// A case whose token is minted from `claims`; the claims go into the file so the minting
    /// test can reproduce the token.
    fn minted(name: &str, key: (&str, &SecretKey), claims: &Claims, rest: Value) -> Value {
        let mut case = json!({
            "name": name,
            "signed_by": key.0,
            "claims": claims,
            "token": mint(key.1, claims).unwrap(),
            "verifier": verifier(),
        });
        merge(&mut case, rest);
        case
    }

    /// A case whose token is given as is (tampered, or not a valid license).
    fn raw(name: &str, token: String, rest: Value) -> Value {
        let mut case = json!({ "name": name, "token": token, "verifier": verifier() });
        merge(&mut case, rest);
        case
    }

    fn merge(case: &mut Value, rest: Value) {
        for (k, v) in rest.as_object().unwrap() {
            case[k] = v.clone();
        }
    }

    fn footer(key: &SecretKey) -> Vec<u8> {
        format!("{{\"kid\":\"{}\"}}", key.public_key().id()).into_bytes()
    }

    pub(super) fn document() -> Value {
        let k = Keys {
            current: SecretKey::from_seed(&[0x11; 32]),
            old: SecretKey::from_seed(&[0x22; 32]),
            other: SecretKey::from_seed(&[0x33; 32]),
        };
        let cur = ("current", &k.current);
        let mid = "2026-06-01T00:00:00Z";
        let b = base();
        let mut cases = Vec::new();

        // Statuses.
        cases.push(minted(
            "active_on_bound_device",
            cur,
            &b,
            json!({"device": DEVICE, "now": mid,
            "expect": {"status": "active", "at": "2027-01-01T00:00:00Z"}}),
        ));
        cases.push(minted(
            "active_after_nic_replaced",
            cur,
            &b,
            json!({"device": SAME_DEVICE_NEW_NIC,
            "now": mid, "expect": {"status": "active", "at": "2027-01-01T00:00:00Z"}}),
        ));
        cases.push(minted("frozen_after_exp_until_freeze_window_ends", cur, &b, json!({"device": DEVICE,
            "now": "2027-01-10T00:00:00Z", "expect": {"status": "frozen", "at": "2027-01-16T00:00:00Z"}})));
        let mut frozen = b.clone();
        frozen.status = TokenStatus::Frozen;
        frozen.revision = 2;
        frozen.iat = t("2026-05-01T00:00:00Z");
        cases.push(minted(
            "frozen_early_by_marketplace",
            cur,
            &frozen,
            json!({"device": DEVICE,
            "now": mid, "expect": {"status": "frozen", "at": "2027-01-16T00:00:00Z"}}),
        ));
        cases.push(minted("expired_after_freeze_window", cur, &b, json!({"device": DEVICE,
            "now": "2027-01-16T00:00:00Z", "expect": {"status": "expired", "at": "2027-01-16T00:00:00Z"}})));
        // A catalog edition with a check-in deadline (optional claims `edition`, `check_in_by`).
        let mut edition = b.clone();
        edition.edition = Some("CAD Pro".into());
        edition.check_in_by = Some(t("2026-07-01T00:00:00Z"));
        cases.push(minted(
            "active_before_check_in_deadline",
            cur,
            &edition,
            json!({"device": DEVICE,
            "now": mid, "expect": {"status": "active", "at": "2027-01-01T00:00:00Z"}}),
        ));
        cases.push(minted(
            "check_in_required_after_deadline",
            cur,
            &edition,
            json!({"device": DEVICE,
            "now": "2026-07-02T00:00:00Z", "expect": {"status": "check_in_required", "at": "2026-07-01T00:00:00Z"}}),
        ));
        // A license the ISV issued itself, as an evaluation (optional claim `origin`).
        let mut trial = b.clone();
        trial.jti = "dl-0001".into();
        trial.order = "direct-dl-0001".into();
        trial.origin = Some("trial".into());
        cases.push(minted(
            "trial_issued_by_the_isv",
            cur,
            &trial,
            json!({"device": DEVICE,
            "now": mid, "expect": {"status": "active", "at": "2027-01-01T00:00:00Z"}}),
        ));
        cases.push(minted(
            "active_when_signed_by_rotated_out_key",
            ("old", &k.old),
            &b,
            json!({"device": DEVICE,
            "now": mid, "expect": {"status": "active", "at": "2027-01-01T00:00:00Z"}}),
        ));
        let mut unbound = b.clone();
        unbound.binding = None;
        let mut optional = verifier();
        optional["binding"] = json!("optional");
        cases.push(minted(
            "unbound_accepted_when_binding_optional",
            cur,
            &unbound,
            json!({"now": mid,
            "verifier": optional, "expect": {"status": "active", "at": "2027-01-01T00:00:00Z"}}),
        ));
        let mut opaque = b.clone();
        opaque.binding = Some(Binding::new(
            &Fingerprint::parse(OPAQUE).unwrap(),
            *b"goldsalt",
        ));
        cases.push(minted(
            "opaque_fingerprint_exact_match",
            cur,
            &opaque,
            json!({"device": OPAQUE,
            "now": mid, "expect": {"status": "active", "at": "2027-01-01T00:00:00Z"}}),
        ));
        let mut renewed = b.clone();
        renewed.revision = 3;
        renewed.iat = t("2026-12-20T00:00:00Z");
        renewed.exp = t("2028-01-01T00:00:00Z");
        renewed.freeze_until = t("2028-01-16T00:00:00Z");
        cases.push(minted("renewed_revision_active_past_old_exp", cur, &renewed, json!({"device": DEVICE,
            "now": "2027-02-01T00:00:00Z", "expect": {"status": "active", "at": "2028-01-01T00:00:00Z"}})));

        // Device binding.
        cases.push(minted(
            "rejects_license_copied_to_another_machine",
            cur,
            &b,
            json!({"device": OTHER_DEVICE,
            "now": mid, "expect": {"error": "DeviceMismatch"}}),
        ));
        cases.push(minted(
            "rejects_bound_license_without_fingerprint",
            cur,
            &b,
            json!({"now": mid,
            "expect": {"error": "DeviceMismatch"}}),
        ));
        let mut all = verifier();
        all["policy"] = json!("all");
        cases.push(minted(
            "strict_policy_rejects_replaced_nic",
            cur,
            &b,
            json!({"device": SAME_DEVICE_NEW_NIC,
            "now": mid, "verifier": all, "expect": {"error": "DeviceMismatch"}}),
        ));
        cases.push(minted(
            "opaque_fingerprint_differs_in_case",
            cur,
            &opaque,
            json!({"device": OPAQUE.to_uppercase(),
            "now": mid, "expect": {"error": "DeviceMismatch"}}),
        ));
        cases.push(minted(
            "rejects_unbound_license_when_binding_required",
            cur,
            &unbound,
            json!({"now": mid,
            "expect": {"error": "NotBound"}}),
        ));

        // Issuer, product, key.
        let mut other_product = b.clone();
        other_product.product = "OFFI000000000000001".into();
        cases.push(minted(
            "rejects_token_for_another_product",
            cur,
            &other_product,
            json!({"device": DEVICE,
            "now": mid, "expect": {"error": "WrongProduct"}}),
        ));
        let mut other_iss = b.clone();
        other_iss.iss = "someone-else".into();
        cases.push(minted(
            "rejects_token_from_another_issuer",
            cur,
            &other_iss,
            json!({"device": DEVICE,
            "now": mid, "expect": {"error": "WrongIssuer"}}),
        ));
        cases.push(minted(
            "rejects_token_signed_by_untrusted_key",
            ("other", &k.other),
            &b,
            json!({"device": DEVICE,
            "now": mid, "expect": {"error": "UnknownKey"}}),
        ));

        // Time.
        let mut later = b.clone();
        later.iat = t("2026-05-01T00:00:00Z");
        later.nbf = t("2026-07-01T00:00:00Z");
        cases.push(minted(
            "not_yet_valid_before_nbf",
            cur,
            &later,
            json!({"device": DEVICE,
            "now": mid, "expect": {"error": "NotYetValid"}}),
        ));
        cases.push(minted("clock_set_back_behind_last_run", cur, &b, json!({"device": DEVICE,
            "now": mid, "guard_last_seen": "2026-09-01T00:00:00Z", "expect": {"error": "ClockRollback"}})));
        cases.push(minted(
            "clock_within_tolerance_of_last_run",
            cur,
            &b,
            json!({"device": DEVICE,
            "now": mid, "guard_last_seen": "2026-06-01T20:00:00Z",
            "expect": {"status": "active", "at": "2027-01-01T00:00:00Z"}}),
        ));
        cases.push(minted(
            "clock_set_back_before_issue_time",
            cur,
            &renewed,
            json!({"device": DEVICE,
            "now": "2026-12-01T00:00:00Z", "expect": {"error": "ClockRollback"}}),
        ));

        // Revocation.
        let list = |seq: u64, revoked: &[&str]| {
            let revoked = revoked.iter().map(|s| s.to_string()).collect();
            let claims = RevocationClaims::new("acme-isv", t("2026-05-15T00:00:00Z"), seq, revoked);
            sign_revocations(&k.current, &claims)
        };
        cases.push(minted(
            "rejects_revoked_license",
            cur,
            &b,
            json!({"device": DEVICE, "now": mid,
            "revocations": list(7, &["lic-0999", "lic-0001"]), "expect": {"error": "Revoked"}}),
        ));
        cases.push(minted(
            "revocation_list_without_this_license",
            cur,
            &b,
            json!({"device": DEVICE, "now": mid,
            "revocations": list(7, &["lic-0999"]),
            "expect": {"status": "active", "at": "2027-01-01T00:00:00Z"}}),
        ));
        let mut seen_seq = verifier();
        seen_seq["min_revocation_seq"] = json!(8);
        cases.push(minted("rejects_stale_revocation_list", cur, &b, json!({"device": DEVICE, "now": mid,
            "verifier": seen_seq, "revocations": list(7, &[]), "expect": {"error": "StaleRevocationList"}})));

        // Signature and encoding attacks.
        let good = mint(&k.current, &b).unwrap();
        let (body, foot) = good["v4.public.".len()..].split_once('.').unwrap();
        let mut tampered = body.as_bytes().to_vec();
        tampered[20] = if tampered[20] == b'A' { b'B' } else { b'A' };
        let tampered = String::from_utf8(tampered).unwrap();
        cases.push(raw(
            "rejects_tampered_claims",
            format!("v4.public.{tampered}.{foot}"),
            json!({"device": DEVICE, "now": mid, "expect": {"error": "BadSignature"}}),
        ));
        let old_footer = paseto_b64(&footer(&k.old));
        cases.push(raw(
            "rejects_footer_kid_swapped_to_other_trusted_key",
            format!("v4.public.{body}.{old_footer}"),
            json!({"device": DEVICE, "now": mid, "expect": {"error": "BadSignature"}}),
        ));
        let claims = serde_json::to_vec(&b).unwrap();
        cases.push(raw(
            "rejects_signature_from_another_key_under_our_kid",
            paseto::sign(&k.other, &claims, &footer(&k.current), b""),
            json!({"device": DEVICE, "now": mid, "expect": {"error": "BadSignature"}}),
        ));
        cases.push(raw(
            "rejects_token_with_implicit_assertion",
            paseto::sign(&k.current, &claims, &footer(&k.current), b"context"),
            json!({"device": DEVICE, "now": mid, "expect": {"error": "BadSignature"}}),
        ));
        cases.push(raw(
            "rejects_v3_header",
            good.replacen("v4.public.", "v3.public.", 1),
            json!({"device": DEVICE, "now": mid, "expect": {"error": "Malformed"}}),
        ));
        cases.push(raw(
            "rejects_local_purpose",
            good.replacen("v4.public.", "v4.local.", 1),
            json!({"device": DEVICE, "now": mid, "expect": {"error": "Malformed"}}),
        ));
        cases.push(raw(
            "rejects_trailing_part",
            format!("{good}.eyJ9"),
            json!({"device": DEVICE, "now": mid, "expect": {"error": "Malformed"}}),
        ));
        cases.push(raw(
            "rejects_padding",
            format!("{good}=="),
            json!({"device": DEVICE, "now": mid, "expect": {"error": "Malformed"}}),
        ));
        cases.push(raw(
            "rejects_missing_footer",
            format!("v4.public.{body}"),
            json!({"device": DEVICE, "now": mid, "expect": {"error": "Malformed"}}),
        ));
        cases.push(raw(
            "rejects_payload_shorter_than_signature",
            format!("v4.public.{}.{foot}", &body[..80]),
            json!({"device": DEVICE, "now": mid, "expect": {"error": "Malformed"}}),
        ));
        let signed = |m: &[u8]| paseto::sign(&k.current, m, &footer(&k.current), b"");
        let claims_text = String::from_utf8(claims.clone()).unwrap();
        cases.push(raw(
            "rejects_duplicate_claim",
            signed(
                claims_text
                    .replacen(
                        "{\"iss\":\"acme-isv\"",
                        "{\"iss\":\"acme-isv\",\"iss\":\"acme-isv\"",
                        1,
                    )
                    .as_bytes(),
            ),
            json!({"device": DEVICE, "now": mid, "expect": {"error": "Malformed"}}),
        ));
        cases.push(raw(
            "rejects_missing_required_claim",
            signed(
                claims_text
                    .replacen("\"order\":\"CS2611230001ABCD\",", "", 1)
                    .as_bytes(),
            ),
            json!({"device": DEVICE, "now": mid, "expect": {"error": "Malformed"}}),
        ));
        cases.push(raw(
            "rejects_binding_claim_absent_rather_than_null",
            signed(
                claims_text
                    .replacen(
                        &format!("\"binding\":\"{}\",", b.binding.as_ref().unwrap().encode()),
                        "",
                        1,
                    )
                    .as_bytes(),
            ),
            json!({"device": DEVICE, "now": mid, "expect": {"error": "Malformed"}}),
        ));
        let mut non_utf8 = claims.clone();
        let at = claims_text.find("cust-6a1f").unwrap();
        non_utf8[at] = 0xff;
        cases.push(raw(
            "rejects_non_utf8_claims",
            signed(&non_utf8),
            json!({"device": DEVICE, "now": mid, "expect": {"error": "Malformed"}}),
        ));
        cases.push(raw(
            "rejects_trailing_json",
            signed(format!("{claims_text} {{}}").as_bytes()),
            json!({"device": DEVICE, "now": mid, "expect": {"error": "Malformed"}}),
        ));
        cases.push(raw(
            "rejects_exp_after_freeze_until",
            signed(
                claims_text
                    .replacen(
                        "\"freeze_until\":\"2027-01-16T00:00:00Z\"",
                        "\"freeze_until\":\"2026-12-01T00:00:00Z\"",
                        1,
                    )
                    .as_bytes(),
            ),
            json!({"device": DEVICE, "now": mid, "expect": {"error": "Malformed"}}),
        ));
        cases.push(raw(
            "rejects_revocation_list_as_license",
            list(9, &[]),
            json!({"device": DEVICE, "now": mid, "expect": {"error": "Malformed"}}),
        ));

        let key_doc = |key: &SecretKey| {
            json!({
                "secret": key.to_paserk().as_str(),
                "public": key.public_key().to_paserk(),
                "id": key.public_key().id().as_str(),
            })
        };
        json!({
            "about": "licd license token v1 golden vectors. Test keys only: never trust them in a product. \
                      Each case: verifier settings, token, optional device fingerprint, time `now`, \
                      optional last time seen by the TimeGuard, optional revocation list, and the expected \
                      status (with its time) or error. Regenerate: LICD_REGENERATE_VECTORS=1 cargo test -p client-verifier --features sign --test golden",
            "keys": { "current": key_doc(&k.current), "old": key_doc(&k.old), "other": key_doc(&k.other) },
            "clock_tolerance_secs": client_verifier::DEFAULT_CLOCK_TOLERANCE,
            "cases": cases,
        })
    }

    fn paseto_b64(bytes: &[u8]) -> String {
        use std::fmt::Write as _;
        // Minimal unpadded base64url encoder: the test does not lean on the crate's own.
        const A: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
        let mut out = String::new();
        for chunk in bytes.chunks(3) {
            let n = chunk
                .iter()
                .enumerate()
                .fold(0u32, |acc, (i, &b)| acc | (u32::from(b) << (16 - 8 * i)));
            for i in 0..=chunk.len() {
                let _ = out.write_char(A[((n >> (18 - 6 * i)) & 63) as usize] as char);
            }
        }
        out
    }
}
