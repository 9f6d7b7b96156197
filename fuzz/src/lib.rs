//! Fixtures the fuzz targets share: the golden vectors' test keys, verifier settings, device and
//! clock, so that seeds taken from `client-verifier/tests/vectors/license-v1.json` verify.
//!
//! Test keys only: the seeds are public in that file.
//!
//! [`marketplace`] is the daemon's protocol module (`src/marketplace/`), compiled here from its
//! source. It imports nothing of the daemon but the leaf modules [`crypto`] and [`logsafe`]
//! (compiled here the same way), which is what makes this possible; should it ever import more,
//! this build fails and says so.

#[allow(unreachable_pub, dead_code)]
#[path = "../../src/marketplace/mod.rs"]
pub mod marketplace;

/// The daemon's hex, HMAC and randomness helpers (`src/crypto.rs`), which the protocol uses.
#[allow(unreachable_pub, dead_code)]
#[path = "../../src/crypto.rs"]
pub mod crypto;

/// The daemon's escaping of client text (`src/logsafe.rs`), which protocol errors use.
#[allow(unreachable_pub, dead_code)]
#[path = "../../src/logsafe.rs"]
pub mod logsafe;

/// The open-API answer readers (`src/market_api/response.rs` and its error type), compiled from
/// source like [`marketplace`]: they read what the marketplace's servers send back.
#[allow(unreachable_pub, dead_code)]
pub mod market_api;

use std::sync::LazyLock;

use client_verifier::{
    BindingRequirement, Fingerprint, PublicKey, SecretKey, Timestamp, Verifier, paseto,
};

/// The vectors' `current` key (`k4.secret.ERER…`: seed 0x11 × 32).
pub static CURRENT: LazyLock<SecretKey> = LazyLock::new(|| SecretKey::from_seed(&[0x11; 32]));
/// The vectors' `old` key (seed 0x22 × 32).
pub static OLD: LazyLock<SecretKey> = LazyLock::new(|| SecretKey::from_seed(&[0x22; 32]));

/// Issuer and product of the vectors.
pub const ISSUER: &str = "acme-isv";
/// The product of the vectors.
pub const PRODUCT: &str = "OFFI454488918838374";

/// Inside the vectors' paid period (`iat` 2026-01-01, `exp` 2027-01-01).
pub const NOW: Timestamp = Timestamp::from_unix(1_780_272_000); // 2026-06-01T00:00:00Z

/// The device the vectors' bound tokens were bound to.
pub static DEVICE: LazyLock<Fingerprint> = LazyLock::new(|| {
    Fingerprint::parse("04:7C:16:5E:E3:5D|001B_444A_488B_5CEC.|PM1AB2CD3EF|BFEBFBFF00090672")
        .unwrap_or_else(|e| panic!("fixture fingerprint: {e}"))
});

/// A verifier trusting both keys, for the vectors' issuer and product, unbound tokens allowed.
pub fn verifier() -> Verifier {
    verifier_with_min_seq(0)
}

/// The public half, as a trusted key.
pub fn public(key: &SecretKey) -> PublicKey {
    key.public_key().clone()
}

/// The secret key whose id is `kid`, among the two fixtures.
pub fn secret_for(kid: &str) -> Option<&'static SecretKey> {
    [&*CURRENT, &*OLD]
        .into_iter()
        .find(|k| k.public_key().id().as_str() == kid)
}

/// Signs arbitrary `message` bytes as a token of the current key, footer naming it, so the
/// fuzzer's JSON reaches the claim checks behind the signature.
pub fn sign_message(message: &[u8]) -> String {
    let footer = format!(r#"{{"kid":"{}"}}"#, CURRENT.public_key().id().as_str());
    paseto::sign(&CURRENT, message, footer.as_bytes(), b"")
}

/// True when `data` starts (after JSON white space) with `{`: worth signing as claims.
pub fn looks_like_object(data: &[u8]) -> bool {
    data.iter()
        .find(|b| !matches!(b, b' ' | b'\t' | b'\n' | b'\r'))
        .is_some_and(|&b| b == b'{')
}

/// The spec's demo access key (§3.8).
pub const ACCESS_KEY: &str = "ebf72724-bacc-414b-a86b-fda5bcc8153c";

/// The clock at the spec's V1 vector (`timeStamp` 20230815083011123).
pub const V1_NOW: Timestamp = Timestamp::from_unix(1_692_088_211); // 2023-08-15T08:30:11Z

/// The clock at the spec's V2 vector (`timestamp` 1680508066618).
pub const V2_NOW: Timestamp = Timestamp::from_unix(1_680_508_066);

/// [`verifier`], having already accepted revocation list `seq`.
pub fn verifier_with_min_seq(seq: u64) -> Verifier {
    Verifier::builder()
        .trust(public(&CURRENT))
        .trust(public(&OLD))
        .issuer(ISSUER)
        .product(PRODUCT)
        .binding(BindingRequirement::Optional)
        .min_revocation_seq(seq)
        .build()
}
