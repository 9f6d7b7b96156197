//! Site servers on the verifier's side: a lease signed by a site server verifies only through
//! an allotment the ISV signed, for what the allotment covers. One test per attack: an edited
//! allotment, one for another product, a lease signed by a key no allotment names, a lease
//! past its allotment's seats, end or entitlements, and a site key signing anything but leases.
#![cfg(feature = "sign")]

use client_verifier::{
    AllotmentClaims, Binding, Certificate, Claims, Fingerprint, Grant, LeaseClaims, Purpose,
    Purposes, Root, SecretKey, Timestamp, TokenStatus, Verifier, VerifyError, mint, mint_allotment,
    mint_site_lease,
};

const HOME: &str = "04:7C:16:5E:E3:5D|SN-HOME|BOARD-HOME|BFEBFBFF00090672";
const SITE: &str = "0A:11:22:33:44:55|SN-SITE|BOARD-SITE|BFEBFBFF00090672";

fn t(s: &str) -> Timestamp {
    Timestamp::parse_rfc3339(s).unwrap()
}

fn now() -> Timestamp {
    t("2026-06-01T12:00:00Z")
}

fn fp(s: &str) -> Fingerprint {
    Fingerprint::parse(s).unwrap()
}

fn entitlements() -> client_verifier::Entitlements {
    let mut e = client_verifier::Entitlements::new();
    e.insert("export".into(), serde_json::Value::Bool(true));
    e
}

/// Three seats of `lic-f` for the site key `site` until July.
fn allotment(site: &SecretKey, isv: &SecretKey) -> AllotmentClaims {
    AllotmentClaims {
        iss: "acme".into(),
        jti: "lic-f~site-1".into(),
        lic: "lic-f".into(),
        status: TokenStatus::Site,
        iat: t("2026-05-01T00:00:00Z"),
        nbf: t("2026-05-01T00:00:00Z"),
        exp: t("2026-07-01T00:00:00Z"),
        product: "P1".into(),
        sku: "sku".into(),
        seats: 3,
        site_key: site.public_key().to_paserk(),
        binding: Binding::new(&fp(SITE), [1; 8]),
        entitlements: entitlements(),
        edition: None,
        lease_secs: 600,
        linger_secs: 0,
        borrow_max_days: 0,
        keys: vec![isv.public_key().to_paserk()],
    }
}

/// A ten-minute lease of seat `seat` of `lic-f` on HOME.
fn lease(seat: u32) -> LeaseClaims {
    let mut l = LeaseClaims::new(
        "acme",
        "lic-f~abc",
        "lic-f",
        "P1",
        "sku",
        seat,
        "cad@ws7:4242",
        Binding::new(&fp(HOME), [9; 8]),
        now(),
        now().add_secs(600),
    );
    l.entitlements = entitlements();
    l
}

fn verifier(isv: &SecretKey) -> Verifier {
    Verifier::builder()
        .trust(isv.public_key().clone())
        .issuer("acme")
        .product("P1")
        .build()
}

/// The footer of `token`, decoded.
fn footer(token: &str) -> serde_json::Value {
    let u = client_verifier::danger::decode_unverified(token).unwrap();
    serde_json::from_slice(&u.footer).unwrap()
}

/// `token` with its payload replaced by `claims`, the signature kept: an edit.
fn edited<T: serde::Serialize>(token: &str, claims: &T) -> String {
    use base64::Engine;
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let parts: Vec<&str> = token.split('.').collect();
    let raw = b64.decode(parts[2]).unwrap();
    let sig = &raw[raw.len() - 64..];
    let mut body = serde_json::to_vec(claims).unwrap();
    body.extend_from_slice(sig);
    let mut out = format!("v4.public.{}", b64.encode(body));
    if let Some(f) = parts.get(3) {
        out.push('.');
        out.push_str(f);
    }
    out
}

#[test]
fn a_site_lease_verifies_through_its_allotment_on_its_machine() {
    let (isv, site) = (
        SecretKey::generate().unwrap(),
        SecretKey::generate().unwrap(),
    );
    let a = allotment(&site, &isv);
    let token = mint_allotment(&isv, None, &a).unwrap();
    assert_eq!(verifier(&isv).verify_allotment(&token, now()).unwrap(), a);
    let l = mint_site_lease(&site, &token, &a, &lease(2)).unwrap();
    assert_eq!(footer(&l)["site"], token.as_str());
    let v = verifier(&isv)
        .verify_lease(&l, Some(&fp(HOME)), now())
        .unwrap();
    assert_eq!(v.claims().seat, 2);
    assert_eq!(v.key_id(), site.public_key().id());
    // On another machine, as any lease.
    assert!(matches!(
        verifier(&isv).verify_lease(&l, Some(&fp(SITE)), now()),
        Err(VerifyError::DeviceMismatch { .. })
    ));
    // A verifier that does not trust the ISV's key refuses the allotment, so the lease.
    let stranger = SecretKey::generate().unwrap();
    assert!(
        verifier(&stranger)
            .verify_lease(&l, Some(&fp(HOME)), now())
            .is_err()
    );
}

#[test]
fn an_edited_allotment_is_refused() {
    let (isv, site) = (
        SecretKey::generate().unwrap(),
        SecretKey::generate().unwrap(),
    );
    let a = allotment(&site, &isv);
    let token = mint_allotment(&isv, None, &a).unwrap();
    for change in [
        (|a: &mut AllotmentClaims| a.seats = 300) as fn(&mut AllotmentClaims),
        |a| a.exp = t("2030-01-01T00:00:00Z"),
        |a| a.product = "P2".into(),
        |a| a.site_key = SecretKey::generate().unwrap().public_key().to_paserk(),
    ] {
        let mut more = a.clone();
        change(&mut more);
        let forged = edited(&token, &more);
        assert!(matches!(
            verifier(&isv).verify_allotment(&forged, now()),
            Err(VerifyError::BadSignature)
        ));
        // A site signing its leases under the edited allotment gets nothing either.
        let l = mint_site_lease(&site, &forged, &more, &lease(2));
        if let Ok(l) = l {
            assert!(
                verifier(&isv)
                    .verify_lease(&l, Some(&fp(HOME)), now())
                    .is_err()
            );
        }
    }
}

#[test]
fn an_allotment_for_product_a_leases_nothing_of_product_b() {
    let (isv, site) = (
        SecretKey::generate().unwrap(),
        SecretKey::generate().unwrap(),
    );
    let a = allotment(&site, &isv);
    let token = mint_allotment(&isv, None, &a).unwrap();
    let l = mint_site_lease(&site, &token, &a, &lease(0)).unwrap();
    let for_b = Verifier::builder()
        .trust(isv.public_key().clone())
        .issuer("acme")
        .product("P2")
        .build();
    assert!(matches!(
        for_b.verify_lease(&l, Some(&fp(HOME)), now()),
        Err(VerifyError::WrongProduct { .. })
    ));
    // A lease naming product B under the product-A allotment: the site cannot sign it, and
    // a hand-made one is refused.
    let mut b = lease(0);
    b.product = "P2".into();
    assert!(mint_site_lease(&site, &token, &a, &b).is_err());
    let forged = sign_raw_site_lease(&site, &token, &b);
    assert!(matches!(
        for_b.verify_lease(&forged, Some(&fp(HOME)), now()),
        Err(VerifyError::WrongProduct { .. } | VerifyError::Uncertified { .. })
    ));
}

#[test]
fn a_lease_signed_by_a_key_no_allotment_names_is_refused() {
    let (isv, site) = (
        SecretKey::generate().unwrap(),
        SecretKey::generate().unwrap(),
    );
    let a = allotment(&site, &isv);
    let token = mint_allotment(&isv, None, &a).unwrap();
    let thief = SecretKey::generate().unwrap();
    // The real allotment in the footer, signed by another key (naming it, or the site's).
    for kid_of in [&thief, &site] {
        let forged = sign_raw_site_lease_kid(&thief, kid_of, &token, &lease(1));
        assert!(
            verifier(&isv)
                .verify_lease(&forged, Some(&fp(HOME)), now())
                .is_err(),
            "signed by a stranger"
        );
    }
    // No allotment at all: the site key is nobody's key.
    let bare = client_verifier::mint_lease(&site, None, &lease(1)).unwrap();
    assert!(matches!(
        verifier(&isv).verify_lease(&bare, Some(&fp(HOME)), now()),
        Err(VerifyError::UnknownKey { .. })
    ));
}

#[test]
fn a_site_lease_beyond_its_allotment_is_refused() {
    let (isv, site) = (
        SecretKey::generate().unwrap(),
        SecretKey::generate().unwrap(),
    );
    let a = allotment(&site, &isv);
    let token = mint_allotment(&isv, None, &a).unwrap();
    let v = verifier(&isv);
    let mut past_seats = lease(3);
    let mut late = lease(0);
    late.exp = t("2026-08-01T00:00:00Z");
    let mut richer = lease(0);
    richer
        .entitlements
        .insert("max_users".into(), serde_json::json!(1000));
    for (what, l) in [
        ("seat 3 of 3", &mut past_seats),
        ("past the allotment", &mut late),
        ("more entitlements", &mut richer),
    ] {
        assert!(mint_site_lease(&site, &token, &a, l).is_err(), "{what}");
        let forged = sign_raw_site_lease(&site, &token, l);
        assert!(
            matches!(
                v.verify_lease(&forged, Some(&fp(HOME)), now()),
                Err(VerifyError::Uncertified { .. })
            ),
            "{what}"
        );
    }
    // Once the allotment ends, its leases end, whatever they say.
    let l = mint_site_lease(&site, &token, &a, &lease(0)).unwrap();
    assert!(matches!(
        v.verify_lease(&l, Some(&fp(HOME)), t("2026-07-01T00:00:00Z")),
        Err(VerifyError::LeaseEnded { .. })
    ));
}

#[test]
fn a_site_key_signs_leases_and_nothing_else() {
    let (isv, site) = (
        SecretKey::generate().unwrap(),
        SecretKey::generate().unwrap(),
    );
    let a = allotment(&site, &isv);
    let token = mint_allotment(&isv, None, &a).unwrap();
    // A license signed by the site key, carrying the allotment: refused as a license.
    let license = Claims::new(
        "acme",
        "cust",
        "lic-f",
        "P1",
        "sku",
        "order",
        t("2026-01-01T00:00:00Z"),
        t("2027-01-01T00:00:00Z"),
        t("2027-01-16T00:00:00Z"),
    );
    let forged = sign_raw(&site, site.public_key().id().as_str(), &token, &license);
    assert!(matches!(
        verifier(&isv).verify(&forged, None, now()),
        Err(VerifyError::Uncertified { .. })
    ));
    // The allotment is neither a license nor a lease.
    assert!(verifier(&isv).verify(&token, None, now()).is_err());
    assert!(
        verifier(&isv)
            .verify_lease(&token, Some(&fp(HOME)), now())
            .is_err()
    );
    // A real license is not an allotment.
    let real = mint(&isv, &license).unwrap();
    assert!(verifier(&isv).verify_allotment(&real, now()).is_err());
}

#[test]
fn under_a_root_an_allotment_needs_a_certificate_that_grants_leases() {
    let root_key = SecretKey::generate().unwrap();
    let root = Root::sign(1, 1, &[root_key.public_key().clone()], &[&root_key]).unwrap();
    let root = Root::from_json(root.to_json()).unwrap();
    let (isv, site) = (
        SecretKey::generate().unwrap(),
        SecretKey::generate().unwrap(),
    );
    let a = allotment(&site, &isv);
    let grant = |purposes: Purposes| Grant {
        key: isv.public_key().clone(),
        not_before: t("2026-01-01T00:00:00Z"),
        not_after: t("2027-01-01T00:00:00Z"),
        max_exp: t("2028-01-01T00:00:00Z"),
        purposes,
        products: vec!["P1".into()],
    };
    let rooted = Verifier::builder()
        .trust_root(root)
        .issuer("acme")
        .product("P1")
        .build();
    let with_leases = Certificate::sign(grant(Purposes::DEFAULT), &[&root_key]).unwrap();
    let token = mint_allotment(&isv, Some(&with_leases), &a).unwrap();
    let l = mint_site_lease(&site, &token, &a, &lease(0)).unwrap();
    rooted.verify_lease(&l, Some(&fp(HOME)), now()).unwrap();
    // A certificate for licenses only: licd will not mint the allotment.
    let licenses_only =
        Certificate::sign(grant(Purposes::of(&[Purpose::Licenses])), &[&root_key]).unwrap();
    assert!(matches!(
        mint_allotment(&isv, Some(&licenses_only), &a),
        Err(client_verifier::MintError::Uncertified { .. })
    ));
}

/// A site lease signed by `key` with `allotment` in the footer, whatever its claims say.
fn sign_raw_site_lease(key: &SecretKey, allotment: &str, l: &LeaseClaims) -> String {
    sign_raw(key, key.public_key().id().as_str(), allotment, l)
}

/// The same, the footer naming `kid_of`'s key.
fn sign_raw_site_lease_kid(
    key: &SecretKey,
    kid_of: &SecretKey,
    allotment: &str,
    l: &LeaseClaims,
) -> String {
    sign_raw(key, kid_of.public_key().id().as_str(), allotment, l)
}

fn sign_raw<T: serde::Serialize>(
    key: &SecretKey,
    kid: &str,
    allotment: &str,
    claims: &T,
) -> String {
    let footer = serde_json::json!({ "kid": kid, "site": allotment });
    client_verifier::paseto::sign(
        key,
        &serde_json::to_vec(claims).unwrap(),
        &serde_json::to_vec(&footer).unwrap(),
        b"",
    )
}
