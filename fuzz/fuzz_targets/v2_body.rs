//! Online-activation (V2) callbacks: `verify_v2` on a raw query and body, `parse_v2` on the body.
//!
//! The input is `<raw query>\n<body>`; without a newline all of it is the body and the query is
//! empty. The raw pair goes to `verify_v2` as received; then the body is signed as the
//! marketplace would (the query text as nonce when it is a usable one) and must verify, and
//! `parse_v2` reads it.
//!
//! Invariants:
//! - what `sign_v2_query` signs, `verify_v2` accepts, with the nonce and timestamp signed;
//! - what is signed under each documented reading verifies as that reading and no other (a
//!   `kit` signature of a body ending in a hex digit is refused: its message could look like
//!   another reading's);
//! - `parse_v2` refuses only with `000002`; what it accepts is a JSON object without repeated
//!   keys whose `activity` is the callback's;
//! - every refusal makes a well-formed signed answer.
#![no_main]

use libfuzzer_sys::fuzz_target;
use licd_fuzz::marketplace::{
    AccessKey, MAX_NONCE_LEN, ProtocolError, Response, ResultCode, V2Reading, parse_v2,
    sign_v2_query, sign_v2_query_as, verify_body_sign, verify_v2,
};
use licd_fuzz::{ACCESS_KEY, V2_NOW};

fuzz_target!(|data: &[u8]| {
    let (query, body) = match data.iter().position(|&b| b == b'\n') {
        Some(at) => (&data[..at], &data[at + 1..]),
        None => (&data[..0], data),
    };
    let key = AccessKey::new(ACCESS_KEY);
    let query = std::str::from_utf8(query).ok();
    if let Some(raw) = query {
        match verify_v2(&key, raw, body, V2_NOW) {
            Ok(v) => assert!(!v.nonce().is_empty() && v.nonce().chars().count() <= MAX_NONCE_LEN),
            Err(e) => {
                assert!(
                    matches!(e.code, ResultCode::AuthFailed | ResultCode::InvalidParam),
                    "{e:?}"
                );
                answer(&key, &e);
            }
        }
    }

    let nonce = query
        .filter(|q| !q.is_empty() && q.chars().count() <= MAX_NONCE_LEN)
        .unwrap_or("50D83FDECAED6CCD");
    let signed = sign_v2_query(&key, body, nonce, V2_NOW.unix() * 1000 + 618);
    let verified = verify_v2(&key, &signed, body, V2_NOW)
        .unwrap_or_else(|e| panic!("a body signed with the key is refused: {e}\n{signed}"));
    assert_eq!(verified.nonce(), nonce);
    assert_eq!(verified.timestamp(), V2_NOW);
    for reading in V2Reading::ALL {
        let signed = sign_v2_query_as(reading, &key, body, nonce, V2_NOW.unix() * 1000 + 618);
        match verify_v2(&key, &signed, body, V2_NOW) {
            Ok(v) => assert_eq!(v.reading(), reading, "signed as {reading}"),
            Err(e) => assert!(
                reading == V2Reading::Kit && body.last().is_none_or(u8::is_ascii_hexdigit),
                "signed as {reading}, refused: {e}"
            ),
        }
    }

    match parse_v2(body) {
        Ok(callback) => {
            let value: serde_json::Value =
                serde_json::from_slice(body).expect("parse_v2 accepted what is not JSON");
            assert_eq!(value["activity"].as_str(), Some(callback.activity()));
        }
        Err(e) => {
            assert_eq!(e.code, ResultCode::InvalidParam, "{e:?}");
            answer(&key, &e);
        }
    }
});

/// The refusal becomes a JSON answer whose Body-Sign verifies.
fn answer(key: &AccessKey, e: &ProtocolError) {
    let response = Response::from_error(e);
    let body: serde_json::Value =
        serde_json::from_slice(response.body()).expect("answer body is JSON");
    assert_eq!(body["resultCode"], e.code.as_str());
    assert!(verify_body_sign(
        key,
        response.body(),
        &response.body_sign(key)
    ));
}
