//! Property tests of the token round trip: whatever claims the issuer mints, the verifier reads
//! back unchanged, and no single changed byte of a token gets past it.
#![cfg(feature = "sign")]

use client_verifier::{
    Binding, BindingRequirement, Claims, Entitlements, Fingerprint, SecretKey, Timestamp,
    TokenStatus, Verifier, mint,
};
use proptest::prelude::*;
use serde_json::Value;

/// 2000-01-01 to 2100-01-01: inside what RFC 3339 tokens carry, with room for offsets.
const EARLIEST: i64 = 946_684_800;
const LATEST: i64 = 4_102_444_800;

/// Claim strings: any characters (JSON escaping included), short enough for 1,024 characters.
fn text(max: usize) -> impl Strategy<Value = String> {
    proptest::collection::vec(any::<char>(), 0..=max).prop_map(|v| v.into_iter().collect())
}

fn entitlements() -> impl Strategy<Value = Entitlements> {
    let value = prop_oneof![
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>()
            .prop_filter("JSON has no NaN or infinity", |f| f.is_finite())
            .prop_map(Value::from),
        text(8).prop_map(Value::from),
        Just(Value::Null),
    ];
    proptest::collection::btree_map(text(8), value, 0..4)
        .prop_map(|m| m.into_iter().collect::<Entitlements>())
}

fn fingerprint() -> impl Strategy<Value = Fingerprint> {
    prop_oneof![
        proptest::array::uniform4(proptest::collection::vec("[A-Z0-9:_.]{1,16}", 0..3))
            // Fingerprints an issuer binds to: with a disk or mainboard serial.
            .prop_filter_map("no disk or mainboard serial", |p| Fingerprint::from_parts(
                p
            )
            .ok()
            .filter(Fingerprint::identifies_machine)),
        "[0-9a-f]{8,40}".prop_map(|s| Fingerprint::parse(&s).unwrap()),
    ]
}

prop_compose! {
    /// Claims with consistent times (nbf <= exp <= freeze_until), any strings, any binding.
    fn claims()(
        iss in text(10), sub in text(12), jti in text(12), product in text(12), sku in text(8),
        order in text(12),
        t in proptest::array::uniform4(EARLIEST..LATEST),
        frozen in any::<bool>(), revision in 1u32.., quantity in any::<u32>(),
        binding in proptest::option::of((fingerprint(), any::<[u8; 8]>())),
        entitlements in entitlements(),
    ) -> (Claims, Option<Fingerprint>) {
        let mut t = t;
        t[1..].sort_unstable();
        let [iat, nbf, exp, freeze_until] = t.map(Timestamp::from_unix);
        let mut c = Claims::new(iss, sub, jti, product, sku, order, iat, exp, freeze_until);
        c.nbf = nbf;
        c.status = if frozen { TokenStatus::Frozen } else { TokenStatus::Active };
        c.revision = revision;
        c.quantity = quantity;
        c.binding = binding.as_ref().map(|(fp, salt)| Binding::new(fp, *salt));
        c.entitlements = entitlements;
        (c, binding.map(|(fp, _)| fp))
    }
}

fn verifier(key: &SecretKey, c: &Claims) -> Verifier {
    Verifier::builder()
        .trust(key.public_key().clone())
        .issuer(c.iss.clone())
        .product(c.product.clone())
        .binding(BindingRequirement::Optional)
        .build()
}

/// A time the claims verify at: not before `nbf`, not behind `iat`.
fn valid_now(c: &Claims) -> Timestamp {
    c.nbf.max(c.iat)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn minted_claims_verify_to_the_same_claims(
        seed in any::<[u8; 32]>(),
        (c, device) in claims(),
    ) {
        let key = SecretKey::from_seed(&seed);
        let token = match mint(&key, &c) {
            Ok(token) => token,
            // Claims of this size may exceed the marketplace's limit; minting says so.
            Err(client_verifier::MintError::TooLong { .. }) => return Err(TestCaseError::reject("too long")),
            Err(e) => panic!("consistent claims refused: {e}"),
        };
        let license = verifier(&key, &c)
            .verify(&token, device.as_ref(), valid_now(&c))
            .unwrap_or_else(|e| panic!("fresh token refused: {e}"));
        prop_assert_eq!(license.claims(), &c);
        prop_assert_eq!(license.key_id(), key.public_key().id());
        let again = mint(&key, license.claims());
        prop_assert_eq!(again.as_deref(), Ok(token.as_str()), "minting is deterministic");
    }

    #[test]
    fn any_single_changed_byte_fails_verification(
        seed in any::<[u8; 32]>(),
        (c, device) in claims(),
        edits in proptest::collection::vec((any::<prop::sample::Index>(), 1u8..), 8),
    ) {
        let key = SecretKey::from_seed(&seed);
        let Ok(token) = mint(&key, &c) else {
            return Err(TestCaseError::reject("too long"));
        };
        let v = verifier(&key, &c);
        let now = valid_now(&c);
        prop_assert!(v.verify(&token, device.as_ref(), now).is_ok());
        for (at, delta) in edits {
            let mut bytes = token.clone().into_bytes();
            let at = at.index(bytes.len());
            bytes[at] = bytes[at].wrapping_add(delta);
            // A change that is not UTF-8 cannot even be handed to the verifier as a string.
            if let Ok(changed) = String::from_utf8(bytes) {
                prop_assert!(
                    v.verify(&changed, device.as_ref(), now).is_err(),
                    "byte {} changed and the token still verifies", at
                );
            }
        }
    }
}
