//! Request signatures: License 1.0 `authToken` (protocol §3.2) and V2 `signature`/`timestamp`/
//! `nonce` (protocol §3.4, §12.2), verified for the daemon and produced for the simulator and tests
//! by the same canonicalisation code.

use std::borrow::Cow;
use std::collections::BTreeMap;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use client_verifier::Timestamp;
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use super::code::{ProtocolError, RefusalKind, quoted};
use super::key::{AccessKey, ct_eq, hmac_sha256};
use super::time::{format_v1_timestamp, parse_v1_timestamp, v1_timestamp_millis};

/// How far a V2 `timestamp` may be from the server clock, either way (protocol §3.4).
pub const V2_WINDOW_SECS: i64 = 60;

/// The longest V2 `nonce` accepted. The documented examples have 16 or 64 characters; the cap keeps
/// the caller's replay cache small.
pub const MAX_NONCE_LEN: usize = 128;

const AUTH_TOKEN: &str = "authToken";
const TIME_STAMP: &str = "timeStamp";

/// The decoded parameters of a License 1.0 callback whose `authToken` checked out: the first
/// value of each name, sorted by name; `authToken` itself is left out.
///
/// Only [`verify_v1`] makes one, so holding a `Params` proves the signature was checked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Params {
    values: BTreeMap<String, String>,
    timestamp: Timestamp,
    /// `timeStamp` in Unix milliseconds, as precise as sent.
    millis: i64,
}

impl Params {
    /// The value of parameter `name`, if sent.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.values.get(name).map(String::as_str)
    }

    /// All parameters, sorted by name (byte order).
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.values.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// How many distinct parameter names were sent, `timeStamp` included.
    pub fn len(&self) -> usize {
        self.values.len()
    }

    /// Never true for a verified request (it has at least `timeStamp`); here for completeness.
    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    /// The request's `timeStamp`, to the second.
    pub fn timestamp(&self) -> Timestamp {
        self.timestamp
    }

    /// The request's `timeStamp` in Unix milliseconds, as precise as the marketplace sent it.
    pub fn signed_millis(&self) -> i64 {
        self.millis
    }
}

/// A reading of the V2 request signature. The marketplace's documents publish three (protocol
/// §3.4, §11.5), each keyed with the access key `ak`; `body` is the raw request body, `hex` lower
/// case, `‖` concatenation:
/// - [`V2Reading::License2`] (the License 2.0 page): `inner = hex(HMAC-SHA256(ak, body))`,
///   `signature = HMAC-SHA256(ak, ak‖nonce‖timestamp‖inner)`;
/// - [`V2Reading::Saas`] (the SaaS V2 pages, which name no key for the inner hash):
///   `inner = hex(SHA-256(body))`, the outer HMAC as `License2`;
/// - [`V2Reading::Kit`] (the Kit header reading, no inner hash):
///   `signature = HMAC-SHA256(ak, ak‖nonce‖timestamp‖body)`.
///
/// No request valid under one reading is valid under another without the key: `License2` and
/// `Saas` messages end in 64 hex digits, a `Kit` message in the body, which is accepted only
/// when its last byte is not a hex digit (a JSON object ends in `}`); and an inner part of one
/// of the first two is another's only through a SHA-256 preimage or the key.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum V2Reading {
    /// Two keyed HMACs (the License 2.0 page; what licd signs with).
    License2,
    /// An unkeyed SHA-256 of the body inside the HMAC (the SaaS V2 pages).
    Saas,
    /// The body itself inside the HMAC (the Kit header reading).
    Kit,
}

impl V2Reading {
    /// Every reading, in the order they are tried.
    pub const ALL: [V2Reading; 3] = [V2Reading::License2, V2Reading::Saas, V2Reading::Kit];

    /// Its name in flags, metrics and logs: `license2`, `saas`, `kit`.
    pub fn name(self) -> &'static str {
        match self {
            V2Reading::License2 => "license2",
            V2Reading::Saas => "saas",
            V2Reading::Kit => "kit",
        }
    }

    /// The reading named `name`.
    pub fn parse(name: &str) -> Option<V2Reading> {
        V2Reading::ALL.into_iter().find(|r| r.name() == name)
    }

    /// The signature of this reading.
    fn mac(self, key: &AccessKey, nonce: &str, timestamp: &str, body: &[u8]) -> Option<[u8; 32]> {
        let k = key.bytes();
        let outer =
            |last: &[u8]| hmac_sha256(k, &[k, nonce.as_bytes(), timestamp.as_bytes(), last]);
        match self {
            V2Reading::License2 => Some(outer(
                crate::crypto::hex(&hmac_sha256(k, &[body])).as_bytes(),
            )),
            V2Reading::Saas => Some(outer(crate::crypto::hex(&Sha256::digest(body)).as_bytes())),
            // Only a body whose last byte is not a hex digit: else its message could end like
            // one of the two readings above.
            V2Reading::Kit => body
                .last()
                .is_some_and(|b| !b.is_ascii_hexdigit())
                .then(|| outer(body)),
        }
    }
}

impl std::fmt::Display for V2Reading {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// What a V2 request's signature vouches for: the caller must refuse a second request with the
/// same signature until [`V2Verified::remember_until`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct V2Verified {
    nonce: String,
    timestamp: Timestamp,
    millis: i64,
    signature: [u8; 32],
    reading: V2Reading,
}

impl V2Verified {
    /// The request's nonce.
    pub fn nonce(&self) -> &str {
        &self.nonce
    }

    /// The request's timestamp in Unix milliseconds, as precise as sent (seconds × 1000 for a
    /// 10-digit one).
    pub fn signed_millis(&self) -> i64 {
        self.millis
    }

    /// The reading of the signature that matched.
    pub fn reading(&self) -> V2Reading {
        self.reading
    }

    /// What identifies the request for replay detection: its signature. Not the nonce:
    /// `nonce‖timestamp` has no separator, so one signature reads as several (nonce, timestamp)
    /// pairs, and a replay cache keyed on the nonce let a request come back re-split.
    pub fn replay_key(&self) -> String {
        format!("v2sig:{}", crate::crypto::hex(&self.signature))
    }

    /// The request's timestamp, to the second (milliseconds dropped).
    pub fn timestamp(&self) -> Timestamp {
        self.timestamp
    }

    /// Until when the nonce must be remembered: after it, a replay fails the time window anyway.
    pub fn remember_until(&self) -> Timestamp {
        // +1: the timestamp was truncated to the second, and so is the clock it is compared to.
        self.timestamp.add_secs(V2_WINDOW_SECS + 1)
    }
}

/// Checks a License 1.0 callback's `authToken` (protocol §3.2) on the raw query string and returns
/// its parameters.
///
/// The token is standard Base64 of HMAC-SHA256, keyed with access key + `timeStamp`, over
/// `name=value&…` of every other parameter, URL-decoded, first value per name, sorted by name
/// (byte order). A `+` in `authToken` that URL decoding turned into a space is restored, since
/// the marketplace's examples send the token unencoded.
///
/// `window_secs`: if set, a `timeStamp` farther than that from `now` is refused (the documentation leaves
/// V1 replay protection to the ISV).
///
/// Errors: `000001` for a missing `authToken`/`timeStamp`, a token that does not match, or a
/// stale `timeStamp`; `000002` for a well-signed but malformed `timeStamp`.
pub fn verify_v1(
    key: &AccessKey,
    raw_query: &str,
    now: Timestamp,
    window_secs: Option<i64>,
) -> Result<Params, ProtocolError> {
    let mut values = BTreeMap::new();
    let mut token: Option<Cow<'_, str>> = None;
    for (name, value) in form_urlencoded::parse(raw_query.as_bytes()) {
        if name == AUTH_TOKEN {
            token.get_or_insert(value);
        } else {
            values
                .entry(name.into_owned())
                .or_insert_with(|| value.into_owned());
        }
    }
    let token = match token {
        Some(t) if !t.is_empty() => t.replace(' ', "+"),
        _ => return Err(ProtocolError::auth(AUTH_TOKEN, "missing")),
    };
    let Some(stamp) = values.get(TIME_STAMP).filter(|s| !s.is_empty()) else {
        return Err(ProtocolError::auth(TIME_STAMP, "missing"));
    };
    let expected = v1_mac(
        key,
        values.iter().map(|(k, v)| (k.as_str(), v.as_str())),
        stamp,
    );
    let matches = STANDARD
        .decode(token)
        .is_ok_and(|received| ct_eq(&received, &expected));
    if !matches {
        return Err(ProtocolError::auth(
            AUTH_TOKEN,
            "does not match the request (is the access key the one bound in the Seller Console?)",
        ));
    }
    // The signed string joins `name=value` pairs with `&` and escapes nothing, so one value
    // `CS1&testFlag=0` signs the same as two parameters: a captured request could be re-split
    // into another meaning (a parameter dropped, another value). Refused: a name holding `&` or
    // `=`, and a value holding `&` followed by `=`. With those gone the signed string has one
    // reading only, while a customer name like "A & B Ltd" and Base64 values ending in `=` (the
    // encrypted contact fields) still pass.
    if let Some((name, _)) = values.iter().find(|(k, v)| v1_ambiguous(k, v)) {
        return Err(ProtocolError::invalid(
            &crate::logsafe::quoted(name),
            "holds '&' followed by '=' (or a name holds either), which would make the signed parameter string ambiguous",
        ));
    }
    let timestamp = parse_v1_timestamp(stamp).ok_or_else(|| {
        ProtocolError::invalid(
            TIME_STAMP,
            format!("expected yyyyMMddHHmmssSSS, got {}", quoted(stamp)),
        )
    })?;
    if let Some(window) = window_secs {
        let skew = timestamp.unix().abs_diff(now.unix());
        if skew > window.max(0).unsigned_abs() {
            return Err(ProtocolError::auth(
                TIME_STAMP,
                format!(
                    "{stamp} is {skew} s from the server clock, more than the {window} s allowed"
                ),
            )
            .with_kind(RefusalKind::OutsideWindow));
        }
    }
    let millis = timestamp.unix() * 1000 + v1_timestamp_millis(stamp);
    Ok(Params {
        values,
        timestamp,
        millis,
    })
}

/// Whether `name=value` could be read as more than one pair inside the V1 signed string (a name
/// holding `&` or `=`, a value holding `&` followed by `=`): [`verify_v1`] refuses such a request.
pub fn v1_ambiguous(name: &str, value: &str) -> bool {
    name.contains(['&', '=']) || value.find('&').is_some_and(|i| value[i..].contains('='))
}

/// The `authToken` of a License 1.0 request with these parameters (protocol §3.2): what the
/// marketplace sends and [`verify_v1`] expects.
///
/// `params` must include `timeStamp` (its first value is part of the key); an `authToken` among
/// them is ignored. For tests that need unusual requests (a 14-digit stamp, a repeated name);
/// [`sign_v1_query`] is the everyday form.
pub fn v1_auth_token(key: &AccessKey, params: &[(&str, &str)]) -> String {
    let mut sorted: BTreeMap<&str, &str> = BTreeMap::new();
    for &(name, value) in params {
        if name != AUTH_TOKEN {
            sorted.entry(name).or_insert(value);
        }
    }
    let stamp = sorted.get(TIME_STAMP).copied().unwrap_or_default();
    STANDARD.encode(v1_mac(key, sorted.into_iter(), stamp))
}

/// A complete, URL-encoded License 1.0 query: `params` in the given order, then `timeStamp`
/// (17 digits, `timestamp` with milliseconds 000), then `authToken`.
///
/// `timeStamp` and `authToken` entries in `params` are dropped in favour of the ones computed
/// here. [`verify_v1`] with the same key accepts the result.
pub fn sign_v1_query(key: &AccessKey, params: &[(&str, &str)], timestamp: Timestamp) -> String {
    let stamp = format_v1_timestamp(timestamp);
    let mut all: Vec<(&str, &str)> = params
        .iter()
        .filter(|(name, _)| *name != TIME_STAMP && *name != AUTH_TOKEN)
        .copied()
        .collect();
    all.push((TIME_STAMP, &stamp));
    let token = v1_auth_token(key, &all);
    let mut query = form_urlencoded::Serializer::new(String::new());
    query.extend_pairs(&all);
    query.append_pair(AUTH_TOKEN, &token);
    query.finish()
}

/// HMAC(access key + stamp, `k=v&…`) over pairs already deduplicated and sorted by name.
fn v1_mac<'a>(
    key: &AccessKey,
    sorted: impl Iterator<Item = (&'a str, &'a str)>,
    stamp: &str,
) -> [u8; 32] {
    let mut canonical = String::new();
    for (name, value) in sorted {
        if !canonical.is_empty() {
            canonical.push('&');
        }
        canonical.push_str(name);
        canonical.push('=');
        canonical.push_str(value);
    }
    let mut mac_key = Zeroizing::new(Vec::with_capacity(key.bytes().len() + stamp.len()));
    mac_key.extend_from_slice(key.bytes());
    mac_key.extend_from_slice(stamp.as_bytes());
    hmac_sha256(&mac_key, &[canonical.as_bytes()])
}

/// Checks a V2 (online activation) callback's `signature` (protocol §3.4, §12.2) on the raw query
/// and the body bytes as received.
///
/// The signature is checked under every reading in `readings` ([`V2Reading`]), compared
/// case-insensitively in constant time; the one that matched is in the answer. `timestamp` is
/// Unix time in milliseconds (13 digits) or seconds (10 digits; some copies of the marketplace
/// documentation say seconds), exactly, and must be within [`V2_WINDOW_SECS`] of `now`.
///
/// This function keeps no state: the caller must refuse a signature it has seen until
/// [`V2Verified::remember_until`] ([`V2Verified::replay_key`]).
///
/// Errors: `000001` for a missing `signature`/`timestamp`/`nonce`, a signature that does not
/// match, or a timestamp outside the window; `000002` for a well-signed but malformed
/// `timestamp` or an over-long `nonce`.
pub fn verify_v2(
    key: &AccessKey,
    raw_query: &str,
    body: &[u8],
    now: Timestamp,
) -> Result<V2Verified, ProtocolError> {
    verify_v2_as(key, raw_query, body, now, &V2Reading::ALL)
}

/// [`verify_v2`] accepting only the signature readings in `readings` (an ISV that pinned one).
pub fn verify_v2_as(
    key: &AccessKey,
    raw_query: &str,
    body: &[u8],
    now: Timestamp,
    readings: &[V2Reading],
) -> Result<V2Verified, ProtocolError> {
    let (mut signature, mut timestamp, mut nonce) = (None, None, None);
    for (name, value) in form_urlencoded::parse(raw_query.as_bytes()) {
        let slot = match name.as_ref() {
            "signature" => &mut signature,
            "timestamp" => &mut timestamp,
            "nonce" => &mut nonce,
            _ => continue,
        };
        slot.get_or_insert(value);
    }
    let signature = present(signature, "signature")?;
    let timestamp = present(timestamp, "timestamp")?;
    let nonce = present(nonce, "nonce")?;

    let received = decode_hex32(&signature);
    // Every reading is computed and compared, whichever matches, so the time taken does not
    // say which one did.
    let mut matched = None;
    for reading in readings {
        let expected = reading.mac(key, &nonce, &timestamp, body);
        let ok = matches!((&received, &expected), (Some(r), Some(e)) if ct_eq(r, e));
        if ok && matched.is_none() {
            matched = Some(*reading);
        }
    }
    let (Some(received), Some(reading)) = (received, matched) else {
        return Err(ProtocolError::auth(
            "signature",
            "does not match the request (is the access key the one bound in the Seller Console?)",
        ));
    };

    let millis = parse_v2_timestamp(&timestamp).ok_or_else(|| {
        ProtocolError::invalid(
            "timestamp",
            format!(
                "expected Unix time in milliseconds or seconds, got {}",
                quoted(&timestamp)
            ),
        )
    })?;
    let skew_ms = millis.abs_diff(now.unix().saturating_mul(1000));
    if skew_ms > V2_WINDOW_SECS.unsigned_abs() * 1000 {
        return Err(ProtocolError::auth(
            "timestamp",
            format!(
                "{timestamp} is {} s from the server clock, more than the {V2_WINDOW_SECS} s allowed",
                skew_ms / 1000
            ),
        ));
    }
    if nonce.chars().count() > MAX_NONCE_LEN {
        return Err(ProtocolError::invalid(
            "nonce",
            format!("longer than {MAX_NONCE_LEN} characters"),
        ));
    }
    Ok(V2Verified {
        nonce: nonce.into_owned(),
        timestamp: Timestamp::from_unix(millis.div_euclid(1000)),
        millis,
        signature: received,
        reading,
    })
}

/// The V2 query string for `body`: `signature=<upper-case hex>&timestamp=…&nonce=…`.
///
/// `timestamp_ms` is written as given, so passing Unix seconds produces the seconds variant of
/// the documentation. [`verify_v2`] with the same key accepts the result within the window.
pub fn sign_v2_query(key: &AccessKey, body: &[u8], nonce: &str, timestamp_ms: i64) -> String {
    sign_v2_query_as(V2Reading::License2, key, body, nonce, timestamp_ms)
}

/// [`sign_v2_query`] under another signature `reading` (`licctl marketplace send --reading`,
/// tests). A `Kit` signature of a body ending in a hex digit cannot be made (nor accepted): the
/// signature is then all zeros.
pub fn sign_v2_query_as(
    reading: V2Reading,
    key: &AccessKey,
    body: &[u8],
    nonce: &str,
    timestamp_ms: i64,
) -> String {
    let timestamp = timestamp_ms.to_string();
    let mac = reading.mac(key, nonce, &timestamp, body).unwrap_or([0; 32]);
    let signature = crate::crypto::hex_upper(&mac);
    let mut query = form_urlencoded::Serializer::new(String::new());
    query.append_pair("signature", &signature);
    query.append_pair("timestamp", &timestamp);
    query.append_pair("nonce", nonce);
    query.finish()
}

/// A fresh nonce for a V2 request: 32 lower-case hex characters.
pub fn random_nonce() -> String {
    let bytes = crate::crypto::random_bytes::<16>().unwrap_or_else(|_| {
        // A nonce needs to be unique within the replay window, not secret: if the OS has no
        // randomness to give, the clock, the process and a counter still make it unique.
        use std::sync::atomic::{AtomicU64, Ordering};
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default();
        let digest = Sha256::new()
            .chain_update(nanos.to_le_bytes())
            .chain_update(std::process::id().to_le_bytes())
            .chain_update(COUNTER.fetch_add(1, Ordering::Relaxed).to_le_bytes())
            .finalize();
        let mut bytes = [0u8; 16];
        bytes.copy_from_slice(&digest[..16]);
        bytes
    });
    crate::crypto::hex(&bytes)
}

/// A query parameter that must be there and non-empty.
fn present<'a>(value: Option<Cow<'a, str>>, name: &str) -> Result<Cow<'a, str>, ProtocolError> {
    match value {
        Some(v) if !v.is_empty() => Ok(v),
        _ => Err(ProtocolError::auth(name, "missing")),
    }
}

/// A V2 timestamp as milliseconds: exactly 13 digits (milliseconds) or 10 (seconds), no sign,
/// no spaces. Exact lengths, because `nonce‖timestamp` has no separator: a timestamp that could
/// borrow a leading `0` from the nonce would give one signature two readings.
fn parse_v2_timestamp(text: &str) -> Option<i64> {
    if !matches!(text.len(), 10 | 13) || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let n: i64 = text.parse().ok()?;
    Some(if text.len() == 13 { n } else { n * 1000 })
}

/// 64 hex digits in either case, as 32 bytes.
fn decode_hex32(text: &str) -> Option<[u8; 32]> {
    let digits = text.as_bytes();
    if digits.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (byte, pair) in out.iter_mut().zip(digits.chunks_exact(2)) {
        let high = char::from(pair[0]).to_digit(16)?;
        let low = char::from(pair[1]).to_digit(16)?;
        *byte = u8::try_from(high * 16 + low).ok()?;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::marketplace::ResultCode;

    const SPEC_KEY: &str = "ebf72724-bacc-414b-a86b-fda5bcc8153c";
    const V1_TOKEN: &str = "aT8SjU0piIeag+WL4E4HPRikgkhhxTwMhwVHZ9P3WqI=";
    const V2_NONCE: &str = "50D83FDECAED6CCD";
    const V2_TIMESTAMP: &str = "1680508066618";
    const V2_BODY: &str = r#"{"activity":"refreshLicenseCode","expireTime":"20230523201932","license":"PL0001","orderId":"CS0001","orderLineId":"CS0001-000001","scene":"RENEWAL","testFlag":"1"}"#;
    const V2_SIGNATURE: &str = "A137829AD4B10858E1D4D84D5F65F136DB4FB0F9B89F2F3C8A345509893DE43B";

    fn key() -> AccessKey {
        AccessKey::new(SPEC_KEY)
    }

    /// The `license2` signature (two keyed HMACs), as the vectors are signed.
    fn v2_mac(key: &AccessKey, nonce: &str, timestamp: &str, body: &[u8]) -> [u8; 32] {
        V2Reading::License2
            .mac(key, nonce, timestamp, body)
            .unwrap()
    }

    fn at(rfc3339: &str) -> Timestamp {
        Timestamp::parse_rfc3339(rfc3339).unwrap()
    }

    /// The clock at the V1 test vector (protocol §3.8)'s `timeStamp`.
    fn v1_now() -> Timestamp {
        at("2023-08-15T08:30:11Z")
    }

    /// The clock at the V2 test vector (protocol §3.8)'s `timestamp`.
    fn v2_now() -> Timestamp {
        Timestamp::from_unix(1_680_508_066)
    }

    /// The protocol §3.8 V1 request, parameters in a non-sorted order, token as `token_text`.
    fn spec_v1_query(token_text: &str) -> String {
        format!(
            "testFlag=1&activity=getLicense&orderId=CS0001&customerId=c-1&businessId=b-1\
             &productId=P1&timeStamp=20230815083011123&authToken={token_text}"
        )
    }

    const SPEC_V1_PARAMS: [(&str, &str); 7] = [
        ("activity", "getLicense"),
        ("businessId", "b-1"),
        ("customerId", "c-1"),
        ("orderId", "CS0001"),
        ("productId", "P1"),
        ("testFlag", "1"),
        ("timeStamp", "20230815083011123"),
    ];

    #[test]
    fn v1_auth_token_matches_spec_vector() {
        assert_eq!(v1_auth_token(&key(), &SPEC_V1_PARAMS), V1_TOKEN);
        let mut shuffled = SPEC_V1_PARAMS;
        shuffled.reverse();
        assert_eq!(v1_auth_token(&key(), &shuffled), V1_TOKEN);
    }

    #[test]
    fn v1_auth_token_is_keyed_with_access_key_plus_timestamp() {
        let mut canonical = String::new();
        for (i, (k, v)) in SPEC_V1_PARAMS.iter().enumerate() {
            if i > 0 {
                canonical.push('&');
            }
            canonical.push_str(&format!("{k}={v}"));
        }
        let with_stamp = hmac_sha256(
            format!("{SPEC_KEY}20230815083011123").as_bytes(),
            &[canonical.as_bytes()],
        );
        assert_eq!(STANDARD.encode(with_stamp), V1_TOKEN);
        let key_alone = hmac_sha256(SPEC_KEY.as_bytes(), &[canonical.as_bytes()]);
        assert_ne!(STANDARD.encode(key_alone), V1_TOKEN);
    }

    #[test]
    fn accepts_spec_v1_query_with_encoded_or_literal_plus() {
        for token_text in [
            V1_TOKEN.replace('+', "%2B").replace('=', "%3D"),
            V1_TOKEN.to_owned(),
        ] {
            let params = verify_v1(&key(), &spec_v1_query(&token_text), v1_now(), Some(300))
                .unwrap_or_else(|e| panic!("{token_text}: {e}"));
            assert_eq!(params.get("orderId"), Some("CS0001"));
            assert_eq!(params.get("authToken"), None);
            assert_eq!(params.len(), 7);
            assert_eq!(params.timestamp(), v1_now());
            let names: Vec<&str> = params.iter().map(|(k, _)| k).collect();
            assert_eq!(names, SPEC_V1_PARAMS.map(|(k, _)| k));
        }
    }

    #[test]
    fn rejects_v1_query_with_tampered_order_id() {
        let query = spec_v1_query(V1_TOKEN).replace("CS0001", "CS0002");
        let err = verify_v1(&key(), &query, v1_now(), None).unwrap_err();
        assert_eq!(err.code, ResultCode::AuthFailed);
        assert!(
            err.message.starts_with("authToken: does not match"),
            "{err}"
        );
    }

    #[test]
    fn rejects_v1_query_signed_with_other_key() {
        let query = sign_v1_query(&AccessKey::new("other"), &SPEC_V1_PARAMS[..6], v1_now());
        let err = verify_v1(&key(), &query, v1_now(), None).unwrap_err();
        assert_eq!(err.code, ResultCode::AuthFailed);
    }

    #[test]
    fn rejects_a_signed_query_re_split_through_an_ampersand_in_a_value() {
        // The documented request, with `productId=P1&testFlag=1` re-sent as one value of
        // `productId`: the same signed string, so the same authToken.
        let query = spec_v1_query(V1_TOKEN)
            .replace("testFlag=1&", "")
            .replace("productId=P1", "productId=P1%26testFlag%3D1");
        let err = verify_v1(&key(), &query, v1_now(), None).unwrap_err();
        assert_eq!(err.code, ResultCode::InvalidParam, "{err}");
        assert!(err.message.starts_with("\"productId\": holds '&'"), "{err}");
        // One reading only: '&' without a later '=', and '=' alone, are plain values.
        assert!(!v1_ambiguous("customerName", "A & B Ltd"));
        assert!(!v1_ambiguous("email", "bWFpbA=="));
        assert!(v1_ambiguous("customerName", "A&expireTime=20991231000000"));
        assert!(v1_ambiguous("a=b", "c") && v1_ambiguous("a&b", "c"));
    }

    #[test]
    fn rejects_v1_query_with_added_parameter() {
        let query = format!("{}&instanceId=x", spec_v1_query(V1_TOKEN));
        assert_eq!(
            verify_v1(&key(), &query, v1_now(), None).unwrap_err().code,
            ResultCode::AuthFailed
        );
    }

    #[test]
    fn rejects_v1_query_without_auth_token_or_timestamp() {
        let no_token = spec_v1_query(V1_TOKEN).replace("authToken=", "authTokn=");
        let err = verify_v1(&key(), &no_token, v1_now(), None).unwrap_err();
        assert_eq!(
            (err.code, err.message.as_str()),
            (ResultCode::AuthFailed, "authToken: missing")
        );
        let empty_token = spec_v1_query("");
        let err = verify_v1(&key(), &empty_token, v1_now(), None).unwrap_err();
        assert_eq!(err.message, "authToken: missing");

        let no_stamp = spec_v1_query(V1_TOKEN).replace("timeStamp=", "timestamp=");
        let err = verify_v1(&key(), &no_stamp, v1_now(), None).unwrap_err();
        assert_eq!(
            (err.code, err.message.as_str()),
            (ResultCode::AuthFailed, "timeStamp: missing")
        );
        assert_eq!(err.kind, RefusalKind::Other, "not the window's refusal");
    }

    #[test]
    fn rejects_v1_timestamp_outside_window() {
        let query = spec_v1_query(V1_TOKEN);
        for now in [v1_now().add_secs(301), v1_now().add_secs(-301)] {
            let err = verify_v1(&key(), &query, now, Some(300)).unwrap_err();
            assert_eq!(err.code, ResultCode::AuthFailed);
            assert!(err.message.starts_with("timeStamp: "), "{err}");
            assert!(err.message.contains("301 s"), "{err}");
            assert_eq!(err.kind, RefusalKind::OutsideWindow);
        }
        assert!(verify_v1(&key(), &query, v1_now().add_secs(300), Some(300)).is_ok());
        assert!(verify_v1(&key(), &query, v1_now().add_secs(-300), Some(300)).is_ok());
        // Without a window, age does not matter (the documentation sets none for V1).
        assert!(verify_v1(&key(), &query, v1_now().add_secs(86_400 * 365), None).is_ok());
    }

    #[test]
    fn accepts_v1_fourteen_digit_timestamp() {
        let params = [
            ("activity", "expireLicense"),
            ("timeStamp", "20230815083011"),
        ];
        let token = v1_auth_token(&key(), &params);
        let query = format!(
            "activity=expireLicense&timeStamp=20230815083011&authToken={}",
            token.replace('+', "%2B")
        );
        let verified = verify_v1(&key(), &query, v1_now(), Some(60)).unwrap();
        assert_eq!(verified.timestamp(), v1_now());
    }

    #[test]
    fn rejects_well_signed_malformed_v1_timestamp_as_invalid_param() {
        let params = [("activity", "expireLicense"), ("timeStamp", "2023-08-15")];
        let token = v1_auth_token(&key(), &params);
        let query = format!(
            "activity=expireLicense&timeStamp=2023-08-15&authToken={}",
            token.replace('+', "%2B")
        );
        let err = verify_v1(&key(), &query, v1_now(), None).unwrap_err();
        assert_eq!(err.code, ResultCode::InvalidParam);
        assert!(err.message.starts_with("timeStamp: expected"), "{err}");
    }

    #[test]
    fn v1_repeated_parameter_counts_with_its_first_value() {
        let signed = sign_v1_query(
            &key(),
            &[("activity", "releaseLicense"), ("instanceId", "first")],
            v1_now(),
        );
        let query = format!("{signed}&instanceId=second");
        let params = verify_v1(&key(), &query, v1_now(), None).unwrap();
        assert_eq!(params.get("instanceId"), Some("first"));
        // The same value placed first changes what was signed.
        let swapped = signed.replace("instanceId=first", "instanceId=second&instanceId=first");
        assert!(verify_v1(&key(), &swapped, v1_now(), None).is_err());
    }

    #[test]
    fn sign_v1_round_trips_and_any_changed_param_breaks_it() {
        let params = [
            ("activity", "getLicense"),
            ("customerId", "68cbc86a"),
            ("customerName", "Zhang San & Co+ 张"),
            ("orderId", "CS1906666666ABCDE"),
            ("empty", ""),
        ];
        let query = sign_v1_query(&key(), &params, v1_now());
        assert!(
            query.contains("&timeStamp=20230815083011000&authToken="),
            "{query}"
        );
        let verified = verify_v1(&key(), &query, v1_now(), Some(0)).unwrap();
        for (k, v) in params {
            assert_eq!(verified.get(k), Some(v), "{k}");
        }
        // Every value byte, and every name byte, of the query matters. '%'-escapes are changed
        // as a whole so the query stays well-formed.
        let (signed, _) = query.split_once("&authToken=").unwrap();
        let token = &query[signed.len()..];
        for i in 0..signed.len() {
            let b = signed.as_bytes()[i];
            if !b.is_ascii_alphanumeric() {
                continue;
            }
            let mut changed = signed.as_bytes().to_vec();
            changed[i] = if b == b'x' { b'y' } else { b'x' };
            let changed = format!("{}{token}", String::from_utf8(changed).unwrap());
            assert!(
                verify_v1(&key(), &changed, v1_now(), None).is_err(),
                "byte {i} of {query}"
            );
        }
    }

    #[test]
    fn sign_v1_query_replaces_caller_timestamp_and_token() {
        let query = sign_v1_query(
            &key(),
            &[
                ("activity", "expireLicense"),
                ("timeStamp", "19990101000000000"),
                ("authToken", "forged"),
            ],
            v1_now(),
        );
        assert!(
            !query.contains("1999") && !query.contains("forged"),
            "{query}"
        );
        assert!(verify_v1(&key(), &query, v1_now(), Some(1)).is_ok());
    }

    #[test]
    fn v2_signature_matches_spec_vector() {
        // Spec §3.8.
        let inner = crate::crypto::hex(&hmac_sha256(SPEC_KEY.as_bytes(), &[V2_BODY.as_bytes()]));
        assert_eq!(
            inner,
            "6813af9fee297468b55017e93ec0ce63fe2a03001c348016c586d25b85168065"
        );
        let mac = v2_mac(&key(), V2_NONCE, V2_TIMESTAMP, V2_BODY.as_bytes());
        assert_eq!(crate::crypto::hex_upper(&mac), V2_SIGNATURE);
        assert_eq!(
            sign_v2_query(&key(), V2_BODY.as_bytes(), V2_NONCE, 1_680_508_066_618),
            format!("signature={V2_SIGNATURE}&timestamp={V2_TIMESTAMP}&nonce={V2_NONCE}")
        );
    }

    #[test]
    fn v2_signature_matches_online_activation_vector() {
        // Spec §12.2.
        let body = r#"{"activity":"getLicenseAsync","deviceFingerprint":"04:7C:16:5E:E3:5D|001B_444A_488B_5CEC.||BFEBFBFF00090672","effectiveTime":"2023-10-27 10:30:15 z","eventId":"EV0001","expireTime":"2024-10-27 10:30:15 z","instanceId":"INST0001","testFlag":"1"}"#;
        let inner = crate::crypto::hex(&hmac_sha256(SPEC_KEY.as_bytes(), &[body.as_bytes()]));
        assert_eq!(
            inner,
            "b038e5a9e849e6878bdffd5360831b8f999a3107d84cd7e8474321bad55d9c5d"
        );
        let expected = "E24F2794304D77E39632CDFE7431B916DB2DBDAA2CF04BA939B2B59D36125185";
        let mac = v2_mac(&key(), V2_NONCE, V2_TIMESTAMP, body.as_bytes());
        assert_eq!(crate::crypto::hex_upper(&mac), expected);
        let query = format!("signature={expected}&timestamp={V2_TIMESTAMP}&nonce={V2_NONCE}");
        assert!(verify_v2(&key(), &query, body.as_bytes(), v2_now()).is_ok());
    }

    #[test]
    fn accepts_spec_v2_query_with_either_hex_case_and_extra_params() {
        for sig in [V2_SIGNATURE.to_owned(), V2_SIGNATURE.to_ascii_lowercase()] {
            let query = format!(
                "signature={sig}&timestamp={V2_TIMESTAMP}&nonce={V2_NONCE}&contentType=application%2Fjson"
            );
            let verified = verify_v2(&key(), &query, V2_BODY.as_bytes(), v2_now()).unwrap();
            assert_eq!(verified.nonce(), V2_NONCE);
            assert_eq!(verified.timestamp(), v2_now());
        }
    }

    #[test]
    fn rejects_v2_with_any_changed_body_byte() {
        let query = sign_v2_query(&key(), V2_BODY.as_bytes(), V2_NONCE, 1_680_508_066_618);
        let body = V2_BODY.as_bytes();
        for i in 0..body.len() {
            let mut changed = body.to_vec();
            changed[i] ^= 0x20;
            let err = verify_v2(&key(), &query, &changed, v2_now()).unwrap_err();
            assert_eq!(err.code, ResultCode::AuthFailed, "byte {i}");
        }
        let mut longer = body.to_vec();
        longer.push(b' ');
        assert!(verify_v2(&key(), &query, &longer, v2_now()).is_err());
    }

    #[test]
    fn rejects_v2_with_changed_nonce_timestamp_signature_or_key() {
        let good = format!("signature={V2_SIGNATURE}&timestamp={V2_TIMESTAMP}&nonce={V2_NONCE}");
        let body = V2_BODY.as_bytes();
        for bad in [
            good.replace(V2_NONCE, "50D83FDECAED6CCE"),
            good.replace(V2_TIMESTAMP, "1680508066619"),
            good.replace(V2_SIGNATURE, &V2_SIGNATURE.replace('A', "B")),
            good.replace(V2_SIGNATURE, &V2_SIGNATURE[..62]),
            good.replace(V2_SIGNATURE, &format!("{}zz", &V2_SIGNATURE[..62])),
        ] {
            let err = verify_v2(&key(), &bad, body, v2_now()).unwrap_err();
            assert_eq!(err.code, ResultCode::AuthFailed, "{bad}");
            assert!(err.message.starts_with("signature: "), "{err}");
        }
        let err = verify_v2(&AccessKey::new("other"), &good, body, v2_now()).unwrap_err();
        assert_eq!(err.code, ResultCode::AuthFailed);
    }

    #[test]
    fn rejects_v2_query_missing_signature_timestamp_or_nonce() {
        let good = format!("signature={V2_SIGNATURE}&timestamp={V2_TIMESTAMP}&nonce={V2_NONCE}");
        for (name, bad) in [
            ("signature", good.replace("signature=", "sig=")),
            ("timestamp", good.replace("timestamp=", "ts=")),
            ("nonce", good.replace("nonce=", "n=")),
            ("nonce", good.replace(V2_NONCE, "")),
        ] {
            let err = verify_v2(&key(), &bad, V2_BODY.as_bytes(), v2_now()).unwrap_err();
            assert_eq!(err.code, ResultCode::AuthFailed);
            assert_eq!(err.message, format!("{name}: missing"));
        }
    }

    #[test]
    fn rejects_v2_timestamp_outside_window() {
        let body = br#"{"activity":"newInstance"}"#;
        let now = v2_now();
        for ms in [
            1_680_508_066_000 + 61_000,
            1_680_508_066_000 - 61_000,
            1_680_508_066_000 + 3_600_000,
        ] {
            let query = sign_v2_query(&key(), body, "n1", ms);
            let err = verify_v2(&key(), &query, body, now).unwrap_err();
            assert_eq!(err.code, ResultCode::AuthFailed, "{ms}");
            assert!(err.message.starts_with("timestamp: "), "{err}");
        }
        for ms in [1_680_508_066_000 + 60_000, 1_680_508_066_000 - 60_000] {
            let query = sign_v2_query(&key(), body, "n1", ms);
            assert!(verify_v2(&key(), &query, body, now).is_ok(), "{ms}");
        }
    }

    #[test]
    fn accepts_v2_timestamp_in_seconds() {
        let body = br#"{"activity":"newInstance"}"#;
        let now = v2_now();
        let query = sign_v2_query(&key(), body, "n1", now.unix() - 30);
        let verified = verify_v2(&key(), &query, body, now).unwrap();
        assert_eq!(verified.timestamp(), now.add_secs(-30));
        let stale = sign_v2_query(&key(), body, "n1", now.unix() - 61);
        assert_eq!(
            verify_v2(&key(), &stale, body, now).unwrap_err().code,
            ResultCode::AuthFailed
        );
    }

    #[test]
    fn rejects_well_signed_non_numeric_v2_timestamp_as_invalid_param() {
        let body = b"{}";
        for ts in [
            "+1680508066618",
            "1680508066618.0",
            "-1",
            "12345678901234567890",
        ] {
            let signature = crate::crypto::hex_upper(&v2_mac(&key(), "n", ts, body));
            let query = format!("signature={signature}&timestamp={ts}&nonce=n").replace('+', "%2B");
            let err = verify_v2(&key(), &query, body, v2_now()).unwrap_err();
            assert_eq!(err.code, ResultCode::InvalidParam, "{ts}");
            assert!(err.message.starts_with("timestamp: expected"), "{err}");
        }
    }

    #[test]
    fn rejects_overlong_nonce() {
        let body = b"{}";
        let nonce = "a".repeat(MAX_NONCE_LEN + 1);
        let query = sign_v2_query(&key(), body, &nonce, 1_680_508_066_618);
        let err = verify_v2(&key(), &query, body, v2_now()).unwrap_err();
        assert_eq!(err.code, ResultCode::InvalidParam);
        assert!(err.message.starts_with("nonce: longer than"), "{err}");
        let fits = sign_v2_query(&key(), body, &nonce[1..], 1_680_508_066_618);
        assert!(verify_v2(&key(), &fits, body, v2_now()).is_ok());
    }

    #[test]
    fn v2_nonce_is_url_decoded_consistently() {
        let body = b"{}";
        let nonce = "a b+c&d=é";
        let query = sign_v2_query(&key(), body, nonce, 1_680_508_066_618);
        assert_eq!(
            verify_v2(&key(), &query, body, v2_now()).unwrap().nonce(),
            nonce
        );
    }

    #[test]
    fn nonce_must_be_remembered_for_the_whole_window() {
        let body = b"{}";
        let query = sign_v2_query(&key(), body, "n", 1_680_508_066_999);
        let verified = verify_v2(&key(), &query, body, v2_now()).unwrap();
        // The last second at which a replay still passes the window:
        let last = (v2_now().unix()..v2_now().unix() + 120)
            .map(Timestamp::from_unix)
            .filter(|&t| verify_v2(&key(), &query, body, t).is_ok())
            .max()
            .unwrap();
        assert!(verified.remember_until() >= last, "{last:?}");
    }

    #[test]
    fn signed_times_keep_the_milliseconds_sent() {
        let p = verify_v1(&key(), &spec_v1_query(V1_TOKEN), v1_now(), Some(60)).unwrap();
        assert_eq!(p.timestamp(), v1_now());
        assert_eq!(p.signed_millis(), v1_now().unix() * 1000 + 123);
        let v = verify_v2(
            &key(),
            &format!("signature={V2_SIGNATURE}&timestamp={V2_TIMESTAMP}&nonce={V2_NONCE}"),
            V2_BODY.as_bytes(),
            v2_now(),
        )
        .unwrap();
        assert_eq!(v.signed_millis(), 1_680_508_066_618);
        let body = b"{}";
        let seconds = sign_v2_query(&key(), body, "n", v2_now().unix());
        let v = verify_v2(&key(), &seconds, body, v2_now()).unwrap();
        assert_eq!(v.signed_millis(), v2_now().unix() * 1000);
    }

    #[test]
    fn every_documented_reading_is_accepted_and_named_and_a_pinned_one_refuses_the_others() {
        let body = V2_BODY.as_bytes();
        for reading in V2Reading::ALL {
            let query = sign_v2_query_as(reading, &key(), body, V2_NONCE, 1_680_508_066_618);
            let v = verify_v2(&key(), &query, body, v2_now()).unwrap();
            assert_eq!(v.reading(), reading);
            assert_eq!(V2Reading::parse(reading.name()), Some(reading));
            // Pinned to it: accepted; pinned to another: refused as a bad signature.
            assert!(verify_v2_as(&key(), &query, body, v2_now(), &[reading]).is_ok());
            for other in V2Reading::ALL.into_iter().filter(|&r| r != reading) {
                let err = verify_v2_as(&key(), &query, body, v2_now(), &[other]).unwrap_err();
                assert_eq!(err.code, ResultCode::AuthFailed, "{reading} as {other}");
            }
        }
        // The bytes of each, spelled out (protocol §3.4), against independent computations.
        let k = SPEC_KEY.as_bytes();
        let outer =
            |last: &[u8]| hmac_sha256(k, &[k, V2_NONCE.as_bytes(), V2_TIMESTAMP.as_bytes(), last]);
        let saas_inner = crate::crypto::hex(&Sha256::digest(body));
        assert_eq!(
            V2Reading::Saas.mac(&key(), V2_NONCE, V2_TIMESTAMP, body),
            Some(outer(saas_inner.as_bytes()))
        );
        assert_eq!(
            V2Reading::Kit.mac(&key(), V2_NONCE, V2_TIMESTAMP, body),
            Some(outer(body))
        );
        // The spec's vector for the Kit reading (§3.8, "Kit x-sign").
        assert_eq!(
            crate::crypto::hex_upper(
                &V2Reading::Kit
                    .mac(&key(), V2_NONCE, V2_TIMESTAMP, body)
                    .unwrap()
            ),
            "540EE3C63990FC135AAFA6DD9EA03BA551D0E3DC382CCB3C0A231DF0DC768036"
        );
        assert_eq!(
            crate::crypto::hex_upper(&v2_mac(&key(), V2_NONCE, V2_TIMESTAMP, body)),
            V2_SIGNATURE
        );
    }

    #[test]
    fn no_message_of_one_reading_is_a_message_of_another() {
        // A kit message ends in the body; the others end in 64 hex digits. A body that ends in
        // a hex digit could make a kit message look like one of theirs: the kit reading refuses
        // it, so a captured license2 signature cannot be replayed as a kit one over a body made
        // of the inner hash.
        let body = V2_BODY.as_bytes();
        let inner = crate::crypto::hex(&hmac_sha256(SPEC_KEY.as_bytes(), &[body]));
        let query = format!("signature={V2_SIGNATURE}&timestamp={V2_TIMESTAMP}&nonce={V2_NONCE}");
        assert_eq!(
            V2Reading::Kit.mac(&key(), V2_NONCE, V2_TIMESTAMP, inner.as_bytes()),
            None
        );
        assert!(verify_v2(&key(), &query, inner.as_bytes(), v2_now()).is_err());
        for tail in [b"0".as_slice(), b"f", b"A"] {
            let mut b = b"{}".to_vec();
            b.extend_from_slice(tail);
            assert_eq!(V2Reading::Kit.mac(&key(), "n", V2_TIMESTAMP, &b), None);
        }
        assert!(
            V2Reading::Kit
                .mac(&key(), "n", V2_TIMESTAMP, b"{}\n")
                .is_some()
        );
        assert!(V2Reading::Kit.mac(&key(), "n", V2_TIMESTAMP, b"").is_none());
    }

    #[test]
    fn a_request_re_split_between_nonce_and_timestamp_is_the_same_request() {
        // The hole: nonce `…0` + timestamp T and nonce `…` + timestamp `0T` sign the same bytes.
        let body = br#"{"activity":"newInstance"}"#;
        let ts = 1_680_508_066_618_i64;
        let query = sign_v2_query(&key(), body, "abc0", ts);
        let first = verify_v2(&key(), &query, body, v2_now()).unwrap();
        let sig = query.split('&').next().unwrap();
        let re_split = format!("{sig}&timestamp=0{ts}&nonce=abc");
        let err = verify_v2(&key(), &re_split, body, v2_now()).unwrap_err();
        assert_eq!(err.code, ResultCode::InvalidParam, "{err}");
        // Whatever split a signature could be read with, the replay key is the signature's.
        let again = verify_v2(&key(), &query, body, v2_now()).unwrap();
        assert_eq!(first.replay_key(), again.replay_key());
        let lower = query.to_ascii_lowercase();
        let v = verify_v2(&key(), &lower, body, v2_now()).unwrap();
        assert_eq!(v.replay_key(), first.replay_key(), "either hex case");
        for ts in ["168050806661", "16805080666180", "0168050806", "168050806"] {
            let signature = crate::crypto::hex_upper(&v2_mac(&key(), "n", ts, body));
            let q = format!("signature={signature}&timestamp={ts}&nonce=n");
            let err = verify_v2(&key(), &q, body, v2_now()).unwrap_err();
            assert_ne!(err.code, ResultCode::Success, "{ts}");
        }
    }

    #[test]
    fn random_nonce_is_32_hex_chars_and_fresh() {
        let a = random_nonce();
        let b = random_nonce();
        assert_eq!(a.len(), 32);
        assert!(
            a.bytes()
                .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase())
        );
        assert_ne!(a, b);
    }

    #[test]
    fn decode_hex32_reads_both_cases_only() {
        let lower = decode_hex32(&V2_SIGNATURE.to_ascii_lowercase()).unwrap();
        assert_eq!(decode_hex32(V2_SIGNATURE), Some(lower));
        assert_eq!(crate::crypto::hex_upper(&lower), V2_SIGNATURE);
        assert_eq!(decode_hex32(&format!("{}g0", &V2_SIGNATURE[..62])), None);
        assert_eq!(decode_hex32(&"é".repeat(32)), None);
    }

    #[test]
    fn verifiers_do_not_panic_on_garbage() {
        // A small deterministic fuzz until the real fuzzer runs: random bytes, and mutations of
        // a valid query, must come back as errors, never panics.
        let mut state = 0x9e37_79b9_7f4a_7c15_u64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let alphabet = b"=&%+ aZ09\xff\xc3\xa9timeStampauthTokensignaturenonce";
        let valid = spec_v1_query(V1_TOKEN);
        let original = verify_v1(&key(), &valid, v1_now(), Some(60)).unwrap();
        for round in 0..3000 {
            let len = (next() % 96) as usize;
            let bytes: Vec<u8> = (0..len)
                .map(|_| alphabet[(next() % alphabet.len() as u64) as usize])
                .collect();
            let query = String::from_utf8_lossy(&bytes);
            assert!(
                verify_v1(&key(), &query, v1_now(), Some(60)).is_err(),
                "{query}"
            );
            assert!(
                verify_v2(&key(), &query, &bytes, v2_now()).is_err(),
                "{query}"
            );

            let mut mutated = valid.clone().into_bytes();
            let at = (next() % mutated.len() as u64) as usize;
            mutated[at] = alphabet[round % alphabet.len()];
            let mutated = String::from_utf8_lossy(&mutated).into_owned();
            // A change the signature tolerates (a literal space for the token's '+') must not
            // change what the request says.
            if let Ok(params) = verify_v1(&key(), &mutated, v1_now(), Some(60)) {
                assert_eq!(params, original, "{mutated}");
            }
        }
    }
}
